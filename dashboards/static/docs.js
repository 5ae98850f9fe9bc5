// Starts Swagger UI (served from this server, see dashboards/app.py) on the app's own OpenAPI document.
// A file of its own rather than an inline script, so /docs keeps the same Content-Security-Policy as every page.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    validatorUrl: null
  });
});
