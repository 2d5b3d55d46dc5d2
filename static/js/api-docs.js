// The served API docs (/api/v1/docs, templates/swagger_ui.html): the vendored Swagger UI (window.SwaggerUIBundle)
// drawn from our own OpenAPI document. Here rather than inline: the Content-Security-Policy runs no inline script.
// Its online validator is turned off: the page fetches nothing but from our origin.

const root = document.getElementById("swagger-ui");
window.ui = window.SwaggerUIBundle({
  url: root.dataset.specUrl,
  domNode: root,
  validatorUrl: "none",
  deepLinking: true,
  ...JSON.parse(root.dataset.config || "{}"),
});
