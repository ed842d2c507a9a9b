/* nanoservices run report: draws the data embedded in #report-data with the vendored d3 modules.
   Python prepared everything (outputs/report_data.py); this only lays out and draws, once, at load. */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#17becf", "#8c6d31", "#393b79", "#637939", "#7b4173", "#bab0ac"];
  const VERSION_COLOURS = ["#111827", "#dc2626", "#2563eb", "#16a34a", "#9333ea", "#ea580c"];
  const DEPLOY = ["deploy-start", "group-up", "traffic-shift", "judgement", "promote", "rollback", "group-stopped"];
  const CHAOS = ["chaos-monkey", "gorilla", "kong"];
  const KIND_COLOURS = {
    "deploy-start": "#2563eb", "group-up": "#0891b2", "traffic-shift": "#7c3aed", judgement: "#ca8a04",
    promote: "#16a34a", rollback: "#dc2626", "group-stopped": "#64748b", "chaos-monkey": "#b91c1c",
    gorilla: "#9f1239", kong: "#7f1d1d", "breaker-open": "#ea580c", "breaker-half-open": "#f59e0b",
    "breaker-closed": "#16a34a",
  };
  const fmt = d3.format(",");
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

  function graph() {
    const g = data.graph;
    const svg = d3.select("#graph");
    const width = svg.node().clientWidth || 800;
    const height = svg.node().clientHeight || 600;
    svg.attr("viewBox", "0 0 " + width + " " + height);
    const nodes = g.nodes.map((d) => Object.assign({}, d));
    const links = g.edges.map((e) => ({ source: e[0], target: e[1], live: e[2] }));
    const notes = [];
    if (g.aggregated) {
      notes.push("Aggregated: " + fmt(g.instances) + " instances are more than 2,000, so each node is one service"
        + " in one zone (" + fmt(nodes.length) + " nodes), sized by its instance count.");
    } else {
      notes.push(fmt(nodes.length) + " instances, " + fmt(links.length) + " connections, sized by degree.");
    }
    if (!nodes.some((n) => n.requests !== null)) notes.push("Request counts on hover need --flows zipkin.");
    d3.select("#graph-note").text(notes.join(" "));

    // A strip for global instances, then a band per region with a column per zone (cross-zone first),
    // band heights and column widths growing with the square root of the nodes they hold.
    const weight = (list) => Math.sqrt(list.length) + 4;
    const globals = nodes.filter((n) => n.region === "*");
    const regions = Array.from(new Set(nodes.filter((n) => n.region !== "*").map((n) => n.region))).sort(byStar);
    const globalHeight = globals.length ? Math.max(56, Math.min(height * 0.3, height * 0.03 * weight(globals))) : 0;
    const cells = new Map();
    if (globals.length) cells.set("*/*", { label: "global", x: 0, y: 0, w: width, h: globalHeight, n: 0 });
    const bands = regions.map((region) => nodes.filter((n) => n.region === region));
    const bandTotal = d3.sum(bands, weight);
    let top = globalHeight;
    regions.forEach((region, r) => {
      const h = ((height - globalHeight) * weight(bands[r])) / bandTotal;
      const zones = Array.from(new Set(bands[r].map((n) => n.zone))).sort(byStar);
      const columns = zones.map((z) => bands[r].filter((n) => n.zone === z));
      const total = d3.sum(columns, weight);
      let left = 0;
      zones.forEach((zone, z) => {
        const w = (width * weight(columns[z])) / total;
        const label = region + " / " + (zone === "*" ? "cross-zone" : zone);
        cells.set(region + "/" + zone, { label, x: left, y: top, w, h, n: 0 });
        left += w;
      });
      top += h;
    });
    const cellOf = (n) => cells.get(n.region === "*" ? "*/*" : n.region + "/" + n.zone);
    for (const n of nodes) cellOf(n).n += 1;

    const density = d3.min(Array.from(cells.values()), (c) => Math.sqrt((c.w * c.h) / Math.max(1, c.n)));
    const base = Math.max(1.5, Math.min(8, density / 5));
    const size = g.aggregated
      ? d3.scaleSqrt().domain([1, d3.max(nodes, (n) => n.count) || 1]).range([base + 1, base * 4])
      : d3.scaleSqrt().domain([0, d3.max(nodes, (n) => n.degree) || 1]).range([base, base * 2.2]);
    for (const n of nodes) n.r = size(g.aggregated ? n.count : n.degree);
    // Circles cover at most a third of their cell, so a crowded zone shrinks instead of overflowing.
    const covered = new Map();
    for (const n of nodes) covered.set(cellOf(n), (covered.get(cellOf(n)) || 0) + Math.PI * n.r * n.r);
    const shrink = Math.min(1, ...Array.from(covered, ([c, area]) => Math.sqrt((c.w * (c.h - 18) * 0.33) / area)));
    nodes.forEach((n, i) => {
      const c = cellOf(n);
      n.r *= shrink;
      n.cx = c.x + c.w / 2;
      n.cy = c.y + c.h / 2 + 6;
      n.x = n.cx + (((i * 37) % 101) / 101 - 0.5) * c.w * 0.6;
      n.y = n.cy + (((i * 53) % 97) / 97 - 0.5) * c.h * 0.6;
    });
    const simulation = d3.forceSimulation(nodes)
      .force("link", d3.forceLink(links).distance(base * 6).strength((l) => (cellOf(l.source) === cellOf(l.target) ? 0.05 : 0)))
      .force("charge", d3.forceManyBody().strength(-base * 6).distanceMax(base * 40))
      .force("x", d3.forceX((n) => n.cx).strength(0.1))
      .force("y", d3.forceY((n) => n.cy).strength(0.1))
      .force("collide", d3.forceCollide((n) => n.r + 0.7))
      .stop();
    const ticks = nodes.length > 1000 ? 160 : 260;
    for (let i = 0; i < ticks; i += 1) {
      simulation.tick();
      for (const n of nodes) {
        const c = cellOf(n);
        n.x = Math.max(c.x + n.r + 3, Math.min(c.x + c.w - n.r - 3, n.x));
        n.y = Math.max(c.y + n.r + 15, Math.min(c.y + c.h - n.r - 3, n.y));
      }
    }

    const cell = svg.append("g").selectAll("g").data(Array.from(cells.values())).join("g").attr("class", "cell");
    cell.append("rect").attr("x", (c) => c.x + 2).attr("y", (c) => c.y + 2)
      .attr("width", (c) => c.w - 4).attr("height", (c) => c.h - 4).attr("rx", 4);
    cell.append("text").attr("x", (c) => c.x + 8).attr("y", (c) => c.y + 14)
      .text((c) => (c.w < 170 ? c.label.split(" / ").pop() : c.label) + "  ·  " + fmt(c.n) + (g.aggregated ? " groups" : ""));
    svg.append("g").selectAll("line").data(links).join("line")
      .attr("class", (l) => "link" + (l.live ? "" : " gone"))
      .attr("x1", (l) => l.source.x).attr("y1", (l) => l.source.y)
      .attr("x2", (l) => l.target.x).attr("y2", (l) => l.target.y);

    const packages = Array.from(new Set(nodes.map((n) => n.package))).sort();
    const colour = d3.scaleOrdinal(packages, PALETTE);
    const killed = (n) => n.exit === "chaos" || n.exit === "failure" || (n.exits && (n.exits.chaos || n.exits.failure));
    const retired = (n) => n.exit === "retired" || n.exit === "rolled_back"
      || (n.exits && n.count > 0 && (n.exits.retired || 0) + (n.exits.rolled_back || 0) === n.count);
    const versioned = versions.length > 1;
    const circles = svg.append("g").selectAll("circle").data(nodes).join("circle")
      .attr("class", (n) => "node" + (killed(n) ? " killed" : "") + (retired(n) ? " retired" : "")
        + (versioned && n.version ? " versioned" : ""))
      .attr("data-name", (n) => n.name)
      .attr("cx", (n) => n.x).attr("cy", (n) => n.y).attr("r", (n) => n.r)
      .attr("fill", (n) => colour(n.package))
      .style("stroke", (n) => (versioned && n.version ? versionColour(n.version) : null));
    svg.append("g").selectAll("text").data(nodes.filter((n) => g.aggregated && n.service.length * 5.6 < 2 * n.r)).join("text")
      .attr("class", "node-label").attr("x", (n) => n.x).attr("y", (n) => n.y + 3).text((n) => n.service);
    svg.append("g").selectAll("path").data(nodes.filter(killed)).join("path").attr("class", "mark-killed")
      .attr("d", (n) => {
        const k = Math.max(3, n.r * 0.8);
        return `M${n.x - k},${n.y - k}L${n.x + k},${n.y + k}M${n.x - k},${n.y + k}L${n.x + k},${n.y - k}`;
      });
    hover(circles, (n) => {
      const lines = [n.name, "package " + n.package + "  ·  service " + n.service,
        "zone " + n.region + " / " + n.zone + (n.ip ? "  ·  IP " + n.ip : "")];
      if (g.aggregated) {
        lines.push(fmt(n.count) + " instances" + (Object.keys(n.versions).length
          ? ", versions " + Object.entries(n.versions).map((e) => e[0] + " ×" + e[1]).join(", ") : ""));
        const exits = Object.entries(n.exits).map((e) => e[0] + " " + e[1]).join(", ");
        if (exits) lines.push("ended: " + exits);
      } else {
        lines.push("version " + (n.version || "as the architecture says") + "  ·  degree " + n.degree);
        if (n.exit && n.exit !== "normal") lines.push("ended: " + n.exit);
      }
      if (n.requests !== null) lines.push(fmt(n.requests) + " requests served, " + fmt(n.errors) + " errors (flows)");
      return lines;
    });

    const legend = d3.select("#graph-legend");
    for (const p of packages) {
      const item = legend.append("span");
      item.append("span").attr("class", "swatch").style("background", colour(p));
      item.append("span").text(p + " " + fmt(d3.sum(nodes.filter((n) => n.package === p), (n) => n.count)));
    }
    if (versioned) {
      for (const v of versions) {
        const item = legend.append("span");
        item.append("span").attr("class", "swatch ring").style("border-color", versionColour(v));
        item.append("span").text("ring: " + v);
      }
    }
    const nKilled = nodes.filter(killed).length;
    const nRetired = nodes.filter(retired).length;
    if (nKilled) legend.append("span").text("× killed (chaos or host failure): " + fmt(nKilled));
    if (nRetired) legend.append("span").text("faded, dashed: retired or rolled back: " + fmt(nRetired));
  }

  // Timeline and charts share one x scale: seconds since the run started.
  function timeScale(width) {
    let end = data.series ? data.series.seconds : 0;
    for (const e of data.events) end = Math.max(end, e.at + 1);
    end = Math.max(end, 1);
    return d3.scaleLinear().domain([0, end]).range([120, width - 14]);
  }

  function lane(kind) {
    if (DEPLOY.includes(kind)) return "deploys";
    if (CHAOS.includes(kind)) return "chaos";
    if (kind.startsWith("incident") || kind.startsWith("partition")) return "incidents";
    if (kind.startsWith("breaker")) return "breakers";
    return "other";
  }

  function describe(e) {
    const parts = [e.at.toFixed(2) + " s", e.kind];
    if (e.service) parts.push(e.service);
    if (e.versions && e.versions.length) parts.push(e.versions.join(" → "));
    if (e.instances && e.instances.length) parts.push(fmt(e.instances.length) + " instance(s)");
    const extra = Object.keys(e).filter((k) => !["at", "kind", "service", "versions", "instances"].includes(k));
    for (const k of extra) parts.push(k + " " + JSON.stringify(e[k]));
    return parts.join("  ·  ");
  }

  function timeline() {
    const svg = d3.select("#timeline");
    const width = svg.node().clientWidth || 700;
    const x = timeScale(width);
    const events = data.events;
    const lanes = ["deploys", "chaos", "incidents", "breakers", "other"].filter((l) => events.some((e) => lane(e.kind) === l));
    if (!events.length) {
      d3.select("#timeline-note").text(data.files.includes("events.jsonl")
        ? "events.jsonl is empty: nothing was deployed, killed or broken during this run."
        : "No events.jsonl in this run: only runs with a scenario or chaos write events.");
    }
    if (data.breakers_omitted) {
      d3.select("#timeline-note").text(fmt(data.breakers_omitted) +
        " later circuit breaker transitions are not drawn; events.jsonl has every one.");
    }
    if (!events.length && !data.series) svg.style("display", "none");
    const laneHeight = 22;
    const height = lanes.length * laneHeight + 24;
    svg.attr("height", height).attr("viewBox", "0 0 " + width + " " + height);
    const y = (l) => lanes.indexOf(l) * laneHeight;
    const rows = svg.append("g").selectAll("g").data(lanes).join("g");
    rows.append("rect").attr("class", "lane").attr("x", x.range()[0]).attr("width", x.range()[1] - x.range()[0])
      .attr("y", (l) => y(l) + 2).attr("height", laneHeight - 4);
    rows.append("text").attr("class", "lane-label").attr("x", 4).attr("y", (l) => y(l) + 15).text((l) => l);
    // A start paired with its end (incidents, partitions, open breakers) is a band between them.
    const bands = [];
    const open = new Map();
    for (const e of events) {
      // One band per breaker: a caller instance's, for one dependency.
      const who = e.kind.startsWith("breaker") ? "|" + (e.instances || []).join(",") + "|" + e.dependency : "";
      const key = e.kind.replace(/-(start|end|open|half-open|closed)$/, "") + "|" + (e.service || "") + who;
      if (e.kind.endsWith("-half-open")) continue; // still open: its band runs on to the close
      if (/-(start|open)$/.test(e.kind)) open.set(key, e);
      else if (/-(end|closed)$/.test(e.kind) && open.has(key)) {
        bands.push({ from: open.get(key), to: e });
        open.delete(key);
      }
    }
    svg.append("g").selectAll("rect").data(bands).join("rect").attr("class", "event-span")
      .attr("x", (b) => x(b.from.at)).attr("width", (b) => Math.max(1, x(b.to.at) - x(b.from.at)))
      .attr("y", (b) => y(lane(b.from.kind)) + 4).attr("height", laneHeight - 8)
      .attr("fill", (b) => (lane(b.from.kind) === "breakers" ? "#ea580c" : "#be123c"));
    const marks = svg.append("g").selectAll("g").data(events).join("g").attr("class", "event")
      .attr("data-kind", (e) => e.kind)
      .attr("transform", (e) => "translate(" + x(e.at) + "," + (y(lane(e.kind)) + laneHeight / 2) + ")");
    marks.append("circle").attr("r", 5).attr("fill", (e) => KIND_COLOURS[e.kind] || "#475569");
    hover(marks, (e) => [e.kind + (e.service ? " " + e.service : ""), describe(e)]);
    svg.append("g").attr("class", "axis").attr("transform", "translate(0," + (height - 22) + ")")
      .call(d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 90))).tickFormat((s) => s + " s"));
    d3.select("#event-list").selectAll("div").data(events).join("div")
      .each(function (e) {
        const row = d3.select(this);
        row.append("span").attr("class", "t").text(e.at.toFixed(2) + " s");
        row.append("span").text(describe(e).split("  ·  ").slice(1).join("  ·  "));
      });
  }

  const METRICS = [
    { key: "rate", label: "requests/s", value: (p) => [p[1]] },
    { key: "errors", label: "error rate %", value: (p) => [p[1] ? (100 * p[2]) / p[1] : 0] },
    { key: "latency", label: "p50 / p99 ms (dashed)", value: (p) => [p[3], p[4]] },
  ];

  function charts() {
    const series = data.series;
    if (!series) {
      d3.select("#charts-note").text("No timeseries.csv in this run: per-service charts over time need it.");
      return;
    }
    const notes = ["Per service, split by version (line colour); zones summed, p50 averaged by requests, p99 their maximum."];
    if (series.omitted) notes.push(fmt(series.omitted) + " quieter services are not charted.");
    d3.select("#charts-note").text(notes.join(" "));
    const controls = d3.select("#chart-controls");
    controls.append("span").text("show ");
    const buttons = controls.selectAll("button").data(METRICS).join("button").text((m) => m.label)
      .on("click", (event, m) => draw(m));
    const legend = controls.append("span").style("margin-left", "10px");
    for (const v of versions) {
      legend.append("span").attr("class", "swatch").style("background", versionColour(v)).style("margin-left", "8px");
      legend.append("span").text(v);
    }
    const container = d3.select("#charts");
    const width = container.node().clientWidth || 700;
    const x = timeScale(width);
    const marks = data.events.filter((e) => DEPLOY.includes(e.kind) || CHAOS.includes(e.kind));
    const draw = (metric) => {
      buttons.classed("on", (m) => m === metric);
      container.selectAll("*").remove();
      for (const [service, byVersion] of Object.entries(series.services)) {
        const height = 66;
        const svg = container.append("svg").attr("class", "chart").attr("height", height)
          .attr("viewBox", "0 0 " + width + " " + height);
        const values = Object.values(byVersion).flatMap((points) => points.flatMap(metric.value));
        const y = d3.scaleLinear().domain([0, d3.max(values) || 1]).nice(3).range([height - 16, 6]);
        const total = d3.sum(Object.values(byVersion).flat(), (p) => p[1]);
        svg.append("text").attr("class", "row-label").attr("x", 4).attr("y", 20)
          .text(service.length > 17 ? service.slice(0, 16) + "…" : service).append("title").text(service);
        svg.append("text").attr("class", "row-label").attr("x", 4).attr("y", 34).style("fill", "#64748b")
          .text(fmt(total) + " req");
        svg.append("g").attr("class", "axis").attr("transform", "translate(" + x.range()[0] + ",0)")
          .call(d3.axisLeft(y).ticks(3).tickSize(3));
        svg.append("g").attr("class", "axis").attr("transform", "translate(0," + (height - 16) + ")")
          .call(d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 90))).tickSize(3).tickFormat(() => ""));
        svg.append("g").selectAll("line").data(marks).join("line").attr("class", "event-line")
          .attr("x1", (e) => x(e.at)).attr("x2", (e) => x(e.at)).attr("y1", 4).attr("y2", height - 16);
        for (const [version, points] of Object.entries(byVersion)) {
          metric.value(points[0] || [0, 0, 0, 0, 0]).forEach((_, which) => {
            const line = d3.line().x((p) => x(p[0] + 0.5)).y((p) => y(metric.value(p)[which]));
            svg.append("path").attr("class", "series" + (which ? " p99" : ""))
              .attr("stroke", versionColour(version)).attr("d", line(points));
          });
        }
      }
    };
    draw(METRICS[0]);
  }

  function histograms() {
    const h = data.histograms;
    if (!h) {
      d3.select("#hist-note").text("No histograms.json in this run.");
      return;
    }
    const entries = [];
    if (h.entry && h.entry.count) entries.push(["entry: completed requests, end to end", h.entry]);
    for (const [service, hist] of Object.entries(h.services || {}).sort((a, b) => b[1].count - a[1].count)) {
      if (hist.count) entries.push([service, hist]);
    }
    const cards = d3.select("#histograms").selectAll("div").data(entries).join("div").attr("class", "hist");
    cards.append("h3").text((d) => d[0]);
    cards.append("div").attr("class", "sub").text((d) => fmt(d[1].count) + " requests · p50 " + ms(d[1].p50_ms)
      + " · p90 " + ms(d[1].p90_ms) + " · p99 " + ms(d[1].p99_ms) + " · max " + ms(d[1].max_ms));
    cards.each(function (d) {
      const hist = d[1];
      const svg = d3.select(this).append("svg");
      const width = svg.node().clientWidth || 300;
      const height = 120;
      svg.attr("viewBox", "0 0 " + width + " " + height);
      const buckets = hist.buckets.filter((b) => b[0] > 0);
      if (!buckets.length) return;
      const bars = buckets.map((b, i) => {
        const previous = i ? buckets[i - 1][0] : b[0] / (buckets.length > 1 ? buckets[1][0] / b[0] : 2);
        return { lo: previous, hi: b[0], n: b[1] };
      });
      const x = d3.scaleLog().domain([bars[0].lo, bars[bars.length - 1].hi]).range([34, width - 8]);
      const y = d3.scaleLinear().domain([0, d3.max(bars, (b) => b.n) || 1]).nice(3).range([height - 18, 12]);
      svg.append("g").selectAll("rect").data(bars).join("rect").attr("class", "bar")
        .attr("x", (b) => x(b.lo)).attr("width", (b) => Math.max(0.5, x(b.hi) - x(b.lo) - 0.3))
        .attr("y", (b) => y(b.n)).attr("height", (b) => y(0) - y(b.n))
        .call(hover, (b) => [ms(b.lo) + " – " + ms(b.hi), fmt(b.n) + " requests"]);
      const quantiles = [["p50", hist.p50_ms], ["p90", hist.p90_ms], ["p99", hist.p99_ms]]
        .filter((q) => q[1] > 0 && q[1] >= x.domain()[0] && q[1] <= x.domain()[1]);
      const q = svg.append("g").selectAll("g").data(quantiles).join("g");
      q.append("line").attr("class", "quantile").attr("x1", (d) => x(d[1])).attr("x2", (d) => x(d[1]))
        .attr("y1", 10).attr("y2", height - 18);
      q.append("text").attr("class", "quantile-label").attr("x", (d) => x(d[1]) + 2).attr("y", (d, i) => 10 + i * 10)
        .text((d) => d[0]);
      svg.append("g").attr("class", "axis").attr("transform", "translate(0," + (height - 18) + ")")
        .call(d3.axisBottom(x).ticks(4, "~s").tickSize(3));
      svg.append("g").attr("class", "axis").attr("transform", "translate(34,0)")
        .call(d3.axisLeft(y).ticks(3, "~s").tickSize(3));
    });
  }

  function traces() {
    const t = data.traces;
    if (!t) {
      d3.select("#trace-note").text("No zipkin.json in this run: run with --flows zipkin to see trace waterfalls.");
      return;
    }
    d3.select("#trace-note").text(fmt(t.total) + " traces in zipkin.json; shown: " + t.shown.map((s) => s.label).join(", ") + ".");
    const services = Array.from(new Set(t.shown.flatMap((s) => s.rows.map((r) => r.service)))).sort();
    const colour = d3.scaleOrdinal(services, PALETTE);
    for (const trace of t.shown) {
      const block = d3.select("#traces").append("div").attr("class", "trace");
      block.append("h3").text(trace.label + ": " + ms(trace.ms) + ", " + fmt(trace.spans) + " spans"
        + (trace.rows.length < trace.spans ? " (first " + trace.rows.length + " drawn)" : "") + "  ·  trace " + trace.id);
      const svg = block.append("svg");
      const width = svg.node().clientWidth || 900;
      const rowHeight = 17;
      const height = trace.rows.length * rowHeight + 22;
      const labelWidth = Math.min(360, width * 0.35);
      svg.attr("height", height).attr("viewBox", "0 0 " + width + " " + height);
      const x = d3.scaleLinear().domain([0, trace.ms || 1]).range([labelWidth, width - 60]);
      svg.append("g").attr("class", "axis").attr("transform", "translate(0,18)")
        .call(d3.axisTop(x).ticks(6).tickSize(3).tickFormat((v) => v + " ms"));
      const row = svg.append("g").selectAll("g").data(trace.rows).join("g")
        .attr("transform", (r, i) => "translate(0," + (22 + i * rowHeight) + ")");
      row.append("text").attr("class", "span-label").attr("x", (r) => 4 + r.depth * 10).attr("y", 12)
        .text((r) => r.service + "  " + r.name + (r.kind ? " (" + r.kind.toLowerCase() + ")" : ""));
      row.append("rect").attr("class", (r) => "span-bar" + (r.error ? " error" : ""))
        .attr("x", (r) => x(r.start_ms)).attr("y", 2).attr("height", rowHeight - 4)
        .attr("width", (r) => Math.max(1, x(r.start_ms + r.ms) - x(r.start_ms)))
        .attr("fill", (r) => (r.error ? "#fca5a5" : colour(r.service)));
      row.append("text").attr("class", "span-label").attr("x", (r) => x(r.start_ms + r.ms) + 4).attr("y", 12)
        .text((r) => ms(r.ms));
      hover(row, (r) => [r.service + "  " + r.name, r.instance, "starts at " + ms(r.start_ms) + ", lasts " + ms(r.ms),
        ...(r.error ? ["error: " + r.error] : [])]);
    }
  }

  section("graph-panel", () => { header(); graph(); });
  section("time-panel", timeline);
  section("time-panel", charts);
  section("hist-panel", histograms);
  section("trace-panel", traces);
  window.nanoservicesReport = {
    ready: true,
    nodes: document.querySelectorAll("circle.node").length,
    events: document.querySelectorAll("#timeline g.event").length,
  };
})();
