// cloudtally pages: charts from Vega-Lite specs kept in <script type="application/json">
// blocks (data, not code), rendered by the bundled vega-embed. No inline script anywhere: the
// content security policy forbids it.

function renderCharts(root) {
  if (!window.vegaEmbed) {
    // The bundle is a module loaded before this one; wait for it if it is still arriving.
    window.setTimeout(() => renderCharts(root), 50);
    return;
  }
  root.querySelectorAll("[data-chart]").forEach((holder) => {
    if (holder.dataset.rendered) return;
    const source = document.getElementById(holder.dataset.chart);
    if (!source) return;
    holder.dataset.rendered = "1";
    const spec = JSON.parse(source.textContent);
    // ast: evaluate expressions with the interpreter, not `new Function` (CSP); no inline
    // styles or action menu.
    window
      .vegaEmbed(holder, spec, { renderer: "svg", actions: false, ast: true, defaultStyle: false, tooltip: false })
      .then(() => holder.classList.add("chart-ready"))
      .catch((error) => {
        holder.textContent = "The chart could not be drawn: " + error;
        holder.classList.add("chart-error");
      });
  });
}

// Links with data-confirm ask before they act (forms that change state).
function confirmForms(root) {
  root.querySelectorAll("form[data-confirm]").forEach((form) => {
    if (form.dataset.bound) return;
    form.dataset.bound = "1";
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

// Selects and inputs marked data-autosubmit submit their form when changed.
function autoSubmit(root) {
  root.querySelectorAll("[data-autosubmit]").forEach((input) => {
    if (input.dataset.bound) return;
    input.dataset.bound = "1";
    input.addEventListener("change", () => input.form && input.form.requestSubmit());
  });
}

function enhance(root) {
  renderCharts(root);
  confirmForms(root);
  autoSubmit(root);
}

enhance(document);
document.body.addEventListener("htmx:afterSwap", (event) => enhance(event.target));
