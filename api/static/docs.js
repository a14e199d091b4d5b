// Swagger UI from the installed swagger-ui-bundle package (no CDN), started from this file rather than an inline
// script so the page runs under the same Content-Security-Policy as the atlas.
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    onComplete: () => document.body.setAttribute("data-ready", "1"),
  });
});
