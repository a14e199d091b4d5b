-- hubindex catalog, version 3: the model card's text (README.md body, bounded), searched by `hubindex search`.
ALTER TABLE models ADD COLUMN card_text VARCHAR;
