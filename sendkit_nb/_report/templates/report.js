/* sendkit_nb report: draws the embedded plotly figures and switches between campaigns.
 * Plain JavaScript, no kernel and no network: the figures are JSON blocks in this page and
 * plotly.js is inlined once above this script. */
(function () {
  "use strict";

  var templatesNode = document.getElementById("sk-plotly-templates");
  // Figures share their (large) plotly templates: each is stored once and referenced by key.
  var templates = templatesNode ? JSON.parse(templatesNode.textContent) : {};
  var CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["sendDataToCloud", "lasso2d", "select2d"],
  };

  function quietly(promise) {
    // Plotly returns promises; a rejected resize must not surface as an uncaught error.
    if (promise && typeof promise.catch === "function") {
      promise.catch(function () {});
    }
  }

  function draw(el) {
    if (el.getAttribute("data-rendered") === "1") {
      // Drawn earlier at another size (the window may have changed while it was hidden).
      quietly(window.Plotly.Plots.resize(el));
      return;
    }
    var source = document.getElementById(el.getAttribute("data-figure"));
    if (!source) {
      return;
    }
    var fig = JSON.parse(source.textContent);
    var layout = fig.layout || {};
    if (fig.template && templates[fig.template]) {
      layout.template = templates[fig.template];
    }
    var config = Object.assign({}, CONFIG, fig.config || {});
    el.setAttribute("data-rendered", "1");
    quietly(window.Plotly.newPlot(el, fig.data || [], layout, config));
  }

  function drawIn(root) {
    Array.prototype.forEach.call(root.querySelectorAll(".sk-chart[data-figure]"), draw);
  }

  var tabs = Array.prototype.slice.call(document.querySelectorAll(".sk-tab"));
  var panels = Array.prototype.slice.call(document.querySelectorAll(".sk-campaign"));

  function show(id, focusTab) {
    var panel = document.getElementById(id);
    if (!panel || panels.indexOf(panel) < 0) {
      return false;
    }
    panels.forEach(function (p) {
      p.classList.toggle("is-active", p === panel);
    });
    tabs.forEach(function (tab) {
      var on = tab.getAttribute("aria-controls") === id;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      if (on && focusTab) {
        tab.focus();
      }
    });
    // Charts of a section that was hidden are drawn only now, so plotly measures the real
    // width instead of the zero width of a hidden box.
    drawIn(panel);
    return true;
  }

  function remember(id) {
    try {
      history.replaceState(null, "", "#" + encodeURIComponent(id));
    } catch (e) {
      // Some browsers refuse history changes on file:// pages; switching still works.
    }
  }

  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () {
      var id = tab.getAttribute("aria-controls");
      if (show(id, false)) {
        remember(id);
      }
    });
    tab.addEventListener("keydown", function (event) {
      var next = null;
      if (event.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      if (event.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      if (event.key === "Home") next = tabs[0];
      if (event.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        event.preventDefault();
        var id = next.getAttribute("aria-controls");
        show(id, true);
        remember(id);
      }
    });
  });

  function fromHash() {
    var id = decodeURIComponent(window.location.hash.replace(/^#/, ""));
    return id ? show(id, false) : false;
  }
  window.addEventListener("hashchange", fromHash);

  // Everything outside the campaign panels (the overview) is visible from the start.
  Array.prototype.forEach.call(document.querySelectorAll(".sk-chart[data-figure]"), function (el) {
    if (!el.closest(".sk-campaign")) {
      draw(el);
    }
  });
  if (!fromHash() && panels.length) {
    show(panels[0].id, false);
  }
  document.documentElement.setAttribute("data-sk-ready", "1");
})();
