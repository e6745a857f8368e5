// fittrace UI: the interaction the server-rendered pages leave to the browser.
// Charts (uPlot), local times, expanding nested runs, the compare selection.
// Every page works without this file; what it changes is mirrored in the URL.
"use strict";
(function () {
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function pageParams() { return new URLSearchParams(window.location.search); }

  function setParam(name, value) {
    var params = pageParams();
    if (value === null || value === "") params.delete(name); else params.set(name, value);
    var query = params.toString();
    history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") + window.location.hash);
  }

  // ---------------------------------------------------------------- times in the local zone
  function localTimes() {
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) el.textContent = when.toLocaleString();
    });
  }

  // ------------------------------------------------------------------------------- charts
  function smooth(values, weight) {
    if (!weight) return values;
    var out = [], last = 0, count = 0;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null) { out.push(null); continue; }
      last = last * weight + (1 - weight) * v;
      count++;
      out.push(last / (1 - Math.pow(weight, count)));
    }
    return out;
  }

  // uPlot wants one x array shared by every series: the union of the x values, with gaps.
  function aligned(series, log, weight) {
    var xs = {};
    series.forEach(function (s) { s.x.forEach(function (x) { xs[x] = true; }); });
    var x = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    var index = new Map(x.map(function (v, i) { return [v, i]; }));
    var data = [x];
    series.forEach(function (s) {
      var y = new Array(x.length).fill(null);
      var values = smooth(s.y, weight);
      s.x.forEach(function (v, i) {
        var value = values[i];
        y[index.get(v)] = log && !(value > 0) ? null : value;
      });
      data.push(y);
    });
    return data;
  }

  function controls() {
    var log = document.getElementById("log-scale");
    var weight = document.getElementById("smoothing");
    return { log: !!(log && log.checked), weight: weight ? Number(weight.value) : 0 };
  }

  // A y tick as written: plain down to 0.001 (log scales reach far below), else exponent form.
  function tick(v) {
    if (v == null) return "";
    var a = Math.abs(v);
    return a === 0 || (a >= 1e-3 && a < 1e7) ? String(+v.toPrecision(4))
      : (+v.toPrecision(2)).toExponential();
  }

  function drawChart(el) {
    var spec = JSON.parse(document.getElementById(el.dataset.source).textContent);
    var c = controls();
    var data = aligned(spec.series, c.log, c.weight);
    var few = data[0].length < 60;
    var opts = {
      width: Math.max(300, Math.min(el.parentElement.clientWidth - 8, 900)),
      height: 260,
      title: spec.title,
      scales: { x: { time: !!spec.time }, y: { distr: c.log ? 3 : 1 } },
      axes: [{ label: spec.xlabel }, { values: function (u, ticks) { return ticks.map(tick); } }],
      series: [{ label: spec.xlabel }].concat(spec.series.map(function (s, i) {
        return { label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
          points: { show: few } };
      })),
      cursor: { drag: { x: true, y: false } },
    };
    if (el._chart) el._chart.destroy();
    el.textContent = "";
    el._chart = new uPlot(opts, data, el);
    el.dataset.series = String(spec.series.length);
    el.dataset.points = spec.series.map(function (s) { return s.y.length; }).join(",");
    el.dataset.log = c.log ? "1" : "0";
  }

  function charts() {
    var els = document.querySelectorAll("div.uchart[data-source]");
    if (!els.length || typeof uPlot === "undefined") return;
    els.forEach(drawChart);
    var log = document.getElementById("log-scale");
    if (log) log.addEventListener("change", function () {
      setParam("log", log.checked ? "1" : "");
      els.forEach(drawChart);
    });
    var weight = document.getElementById("smoothing");
    if (weight) weight.addEventListener("change", function () {
      setParam("smooth", weight.value === "0" ? "" : weight.value);
      els.forEach(drawChart);
    });
  }

  // ------------------------------------------------------------------ forms and the table
  function autosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.submit(); });
    });
  }

  function nestedRuns() {
    document.querySelectorAll("tr[data-parent]").forEach(function (row) { row.hidden = true; });
    // Folding a run folds its whole subtree; unfolding shows only its own children.
    function setOpen(button, open) {
      button.setAttribute("aria-expanded", String(open));
      button.textContent = (open ? "▾ " : "▸ ") + button.dataset.count;
      document.querySelectorAll('tr[data-parent="' + button.dataset.run + '"]').forEach(
        function (row) {
          row.hidden = !open;
          var inner = row.querySelector("button.expand");
          if (inner && !open) setOpen(inner, false);
        });
    }
    document.querySelectorAll("button.expand").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        setOpen(button, button.getAttribute("aria-expanded") !== "true");
      });
    });
  }

  function compareSelection() {
    var button = document.getElementById("compare");
    if (!button) return;
    var boxes = document.querySelectorAll("input[name=runs]");
    function update() {
      var n = 0;
      boxes.forEach(function (b) { if (b.checked) n++; });
      button.disabled = n < 2 || n > 20;
      button.textContent = "Compare " + n + " runs";
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes();
    autosubmit();
    nestedRuns();
    compareSelection();
    charts();
    document.documentElement.dataset.ready = "1";  // for tests and tools driving the page
  });
})();
