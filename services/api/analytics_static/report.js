// Draws every chart spec embedded in a report page; the page carries its data, so no further request.
"use strict";
(function () {
  const specs = JSON.parse(document.getElementById("report-charts").textContent);
  const charts = specs.map(function (spec, n) {
    const canvas = document.getElementById("chart-" + n);
    return new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets },
      options: {
        animation: false,
        responsive: true,
        plugins: { title: { display: true, text: spec.title } },
        scales: { y: { beginAtZero: true, title: { display: true, text: spec.y_label } } },
      },
    });
  });
  window.hubCharts = charts;
  document.body.dataset.chartsReady = String(charts.length);
})();
