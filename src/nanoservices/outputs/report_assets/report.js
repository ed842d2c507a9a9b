/* nanoservices run report: draws the data embedded in #report-data with the vendored d3 modules.
   Python prepared everything (outputs/report_data.py); these scripts only lay out and draw, once, at
   load. report.py joins them in order (report.js, graph.js, timeline.js, panels.js) inside one
   function, so they share these declarations; panels.js ends by drawing every section. */
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#17becf", "#8c6d31", "#393b79", "#637939", "#7b4173", "#bab0ac"];
  const VERSION_COLOURS = ["#111827", "#dc2626", "#2563eb", "#16a34a", "#9333ea", "#ea580c"];
  const DEPLOY = ["deploy-start", "group-up", "traffic-shift", "judgement", "promote", "rollback", "group-stopped",
    "deploy-unfinished", "deploy-interrupted"];
  const CHAOS = ["chaos-monkey", "gorilla", "kong"];
  const KIND_COLOURS = {
    "deploy-start": "#2563eb", "group-up": "#0891b2", "traffic-shift": "#7c3aed", judgement: "#ca8a04",
    promote: "#16a34a", rollback: "#dc2626", "group-stopped": "#64748b", "chaos-monkey": "#b91c1c",
    "deploy-unfinished": "#a16207", "deploy-interrupted": "#a16207",
    gorilla: "#9f1239", kong: "#7f1d1d", "breaker-open": "#ea580c", "breaker-half-open": "#f59e0b",
    "breaker-closed": "#16a34a",
  };
  const fmt = d3.format(",");
  const INSET = 8; // px between a graph cell's border and what is drawn in it
  const ms = (v) => (v >= 100 ? d3.format(",.0f")(v) : d3.format(".3~r")(v)) + " ms";
  const tooltip = d3.select("#tooltip");
  const versions = allVersions();
  const versionColour = (v) => VERSION_COLOURS[Math.max(0, versions.indexOf(v)) % VERSION_COLOURS.length];

  function allVersions() {
    const seen = new Set();
    for (const n of data.graph.nodes) if (n.version) seen.add(n.version);
    if (data.series) for (const s of Object.values(data.series.services)) for (const v of Object.keys(s)) seen.add(v);
    return Array.from(seen).sort();
  }

  function hover(selection, lines) {
    selection
      .on("mouseover mousemove", (event, d) => {
        tooltip.style("display", "block").selectAll("div").data(lines(d)).join("div").text((t) => t);
        const box = tooltip.node().getBoundingClientRect();
        tooltip.style("left", Math.min(event.clientX + 14, window.innerWidth - box.width - 6) + "px")
          .style("top", Math.min(event.clientY + 14, window.innerHeight - box.height - 6) + "px");
      })
      .on("mouseout", () => tooltip.style("display", "none"));
  }

  function byStar(a, b) {
    return (a === "*" ? -1 : 0) - (b === "*" ? -1 : 0) || (a < b ? -1 : a > b ? 1 : 0);
  }

  function section(id, draw) {
    try {
      draw();
    } catch (error) {
      console.error("report: " + id + " failed: " + (error && error.stack ? error.stack : error));
      d3.select("#" + id).append("div").attr("class", "note").text("This part could not be drawn: " + error);
    }
  }

  function header() {
    const s = data.summary;
    const g = data.graph;
    document.title = "nanoservices run: " + (s.arch || g.arch);
    d3.select("#title").text("nanoservices run: " + (s.arch || g.arch));
    d3.select("#subtitle").text(g.args + "  ·  started " + g.date);
    const failed = Object.values(s.requests_failed || {}).reduce((a, b) => a + b, 0);
    const facts = [
      [fmt(g.instances), "instances"],
      [fmt(s.instances_killed || 0), "killed by chaos"],
      [fmt(s.requests_issued || 0), "requests issued"],
      [fmt(s.requests_completed || 0), "completed"],
      [fmt(failed), "failed"],
      [(s.traffic_seconds || 0).toFixed(1) + " s", "of traffic"],
      [(s.wall_seconds || 0).toFixed(1) + " s", "wall time"],
    ];
    const entry = data.histograms && data.histograms.entry;
    if (entry && entry.count) facts.push([ms(entry.p50_ms) + " / " + ms(entry.p99_ms), "entry p50 / p99"]);
    if (data.events.length) facts.push([fmt(data.events.length), "events"]);
    const fact = d3.select("#facts").selectAll("div").data(facts).join("div").attr("class", "fact");
    fact.append("b").text((d) => d[0]);
    fact.append("span").text((d) => d[1]);
    const wanted = ["graph.json", "summary.json", "events.jsonl", "timeseries.csv", "histograms.json", "zipkin.json"];
    const missing = wanted.filter((f) => !data.files.includes(f));
    d3.select("#inputs").text("from " + wanted.filter((f) => data.files.includes(f)).join(", ")
      + (missing.length ? "  ·  not in this run: " + missing.join(", ") : ""));
  }
