// The course site's accessibility fixes (added to every page by site/site_assets.py).
document.addEventListener("DOMContentLoaded", function () {
  // "Show solution" / "Hide solution" toggles are named by the text they show, not by myst-nb's
  // "Toggle hidden content" (WCAG 2.5.3, label in name)
  document.querySelectorAll("details > summary[aria-label]").forEach(function (summary) {
    summary.removeAttribute("aria-label");
  });
  // saved ipywidgets, drawn after this: a slider handle is named by its widget's description
  if (document.querySelector('script[type="application/vnd.jupyter.widget-view+json"]')) {
    new MutationObserver(nameSliders).observe(document.body, {childList: true, subtree: true});
  }
});

function nameSliders() {
  document.querySelectorAll(".widget-slider [role=slider]:not([aria-label])").forEach(function (handle) {
    var label = handle.closest(".widget-slider").querySelector(".widget-label");
    var text = label && label.textContent.trim();
    if (text) handle.setAttribute("aria-label", text);
  });
}
