/* Charts of the billing cockpit pages (Chart.js 4). Data comes from json_script blocks; amounts arrive as
   decimal strings and are drawn as numbers (drawing only: every figure shown as text comes from the server). */
(function () {
  "use strict";
  const palette = {blue: "#2f5bea", green: "#137a3a", teal: "#0e9384", amber: "#dc6803", red: "#b42318", grey: "#98a2b3"};

  function numbers(values) { return values.map(Number); }

  function options(extra) {
    const money = extra.money;
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: {mode: "index", intersect: false},
      plugins: {
        legend: {display: !!extra.legend, position: "bottom"},
        tooltip: {callbacks: money ? {label: (item) => item.dataset.label + ": " + item.parsed.y.toLocaleString(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2})} : {}},
      },
      scales: {
        x: {stacked: !!extra.stacked, grid: {display: false}, ticks: {maxRotation: 0, autoSkip: true, maxTicksLimit: 12}},
        y: {stacked: !!extra.stacked, beginAtZero: true, ticks: {precision: 0}},
      },
    };
  }

  function draw(id, type, labels, datasets, extra) {
    const canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") { return null; }
    const colours = [palette.blue, palette.teal, palette.green, palette.amber, palette.red, palette.grey];
    return new Chart(canvas, {
      type: type,
      data: {
        labels: labels,
        datasets: datasets.map((set, index) => Object.assign({
          backgroundColor: set.colour || colours[index % colours.length],
          borderColor: set.colour || colours[index % colours.length],
          borderWidth: type === "line" ? 2 : 0,
          pointRadius: type === "line" ? 2 : 0,
        }, set, {data: numbers(set.data)})),
      },
      options: options(extra || {}),
    });
  }

  window.AtlasCharts = {
    palette: palette,
    bar: (id, labels, datasets, extra) => draw(id, "bar", labels, datasets, extra),
    line: (id, labels, datasets, extra) => draw(id, "line", labels, datasets, extra),
  };
})();
