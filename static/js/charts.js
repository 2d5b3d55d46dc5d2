// Charts of the dashboards and roll-ups, drawn with the vendored Apache ECharts (window.echarts).
// Each chart is an element with data-chart = {x, horizontal, axes, series: [{name, data, kind, stack, axis}]},
// written by the server; the same figures are in the table under it, so without this script nothing is lost.

const PALETTE = ["#c52f21", "#2f5f93", "#2e7d4a", "#b7791f", "#6b4fa0", "#4b5360", "#0f7c86"];

function valueAxis(name, index, horizontal) {
  return {
    type: "value",
    name: horizontal ? "" : name,
    position: index === 0 ? (horizontal ? "bottom" : "left") : "right",
    splitLine: { show: index === 0 },
    nameTextStyle: { align: index === 0 ? "left" : "right" },
    axisLabel: { hideOverlap: true },
  };
}

// The legend wraps instead of scrolling (a scrolling legend hides series behind arrows on a phone): the plot
// starts below as many legend rows as the names need at this width (12 px text, 14 px mark, gaps).
const LEGEND_ROW = 20;
function legendRows(spec, width) {
  let rows = 1;
  let x = 0;
  for (const s of spec.series) {
    const text = [...String(s.name)].reduce((sum, ch) => sum + (ch.charCodeAt(0) > 0x2e80 ? 12 : 7), 0);
    const item = 14 + 5 + text + 10;
    if (x > 0 && x + item > width) {
      rows += 1;
      x = 0;
    }
    x += item;
  }
  return rows;
}

function option(spec, width) {
  const horizontal = Boolean(spec.horizontal);
  const names = spec.axes && spec.axes.length ? spec.axes : [""];
  const values = horizontal ? [valueAxis(names[0], 0, true)] : names.map((name, i) => valueAxis(name, i, false));
  const categories = {
    type: "category",
    data: spec.x,
    inverse: horizontal,
    axisTick: { alignWithLabel: true },
    axisLabel: horizontal ? { width: 96, overflow: "truncate", interval: 0 } : { hideOverlap: true },
  };
  return {
    color: PALETTE,
    animationDuration: 300,
    textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
    tooltip: { trigger: "axis", renderMode: "richText", confine: true },
    legend: { type: "plain", top: 0, left: 0, right: 0, itemWidth: 14, itemHeight: 10, itemGap: 10 },
    // A horizontal chart's last value label sits on the right edge: leave it room.
    grid: { left: 4, right: horizontal ? 20 : 4, top: 56 + (legendRows(spec, width) - 1) * LEGEND_ROW, bottom: 4,
      containLabel: true },
    xAxis: horizontal ? values[0] : categories,
    yAxis: horizontal ? categories : values,
    series: spec.series.map((s) => ({
      name: s.name,
      type: s.kind === "line" ? "line" : "bar",
      data: s.data,
      stack: s.stack || undefined,
      yAxisIndex: horizontal ? 0 : Math.min(s.axis || 0, values.length - 1),
      barMaxWidth: 28,
      symbolSize: 6,
      connectNulls: true,
      emphasis: { focus: "series" },
    })),
  };
}

function draw(el) {
  let spec;
  try {
    spec = JSON.parse(el.dataset.chart);
  } catch (_error) {
    return;
  }
  if (spec.horizontal) el.style.height = `${Math.max(180, 34 * spec.x.length + 80)}px`;
  const chart = window.echarts.init(el, null, { renderer: "canvas" });
  chart.setOption(option(spec, el.clientWidth));
  new ResizeObserver(() => {
    chart.setOption(option(spec, el.clientWidth));
    chart.resize();
  }).observe(el);
  el.dataset.drawn = "true";
}

if (window.echarts) {
  document.querySelectorAll("[data-chart]").forEach(draw);
}
