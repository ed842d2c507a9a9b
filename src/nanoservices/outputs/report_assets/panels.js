/* Latency histograms and trace waterfalls, then the drawing of every section (report.js first). */
  const EDGE_CARDS = 12; // per-edge histograms drawn, the busiest first; histograms.json has every one

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
    d3.select("#hist-note").text(entries.length
      ? "Service time per service (from request arrival to reply), log-scale latency in ms."
      : "No service answered a request in this run, so there is no latency to show.");
    histogramCards(d3.select("#histograms"), entries, "requests");
    const edges = Object.entries(h.edges || {}).filter((e) => e[1].count).sort((a, b) => b[1].count - a[1].count);
    if (!edges.length) return;
    const shown = edges.slice(0, EDGE_CARDS);
    d3.select("#edge-note").text("Per edge, caller → callee: the caller's wait for each request, from sending it"
      + " to its answer (retries included); " + (edges.length > shown.length ? "the " + shown.length
      + " busiest of " + fmt(edges.length) + " edges (histograms.json has every one)." : fmt(edges.length) + " edges."));
    histogramCards(d3.select("#edge-histograms"), shown.map(([, hist]) => [hist.caller + " → " + hist.callee, hist]),
      "calls");
  }

  function histogramCards(container, entries, what) {
    const cards = container.selectAll("div").data(entries).join("div").attr("class", "hist");
    cards.append("h3").text((d) => d[0]);
    cards.append("div").attr("class", "sub").text((d) => fmt(d[1].count) + " " + what
      + (d[1].errors ? " (" + fmt(d[1].errors) + " failed)" : "") + " · p50 " + ms(d[1].p50_ms)
      + " · p90 " + ms(d[1].p90_ms) + " · p99 " + ms(d[1].p99_ms) + " · max " + ms(d[1].max_ms));
    cards.each(function (d) {
      const hist = d[1];
      const svg = d3.select(this).append("svg");
      const width = svg.node().clientWidth || 300;
      const height = 134;
      const base = height - 32;
      svg.attr("viewBox", "0 0 " + width + " " + height);
      const buckets = hist.buckets.filter((b) => b[0] > 0);
      if (!buckets.length) return;
      const bars = buckets.map((b, i) => {
        const previous = i ? buckets[i - 1][0] : b[0] / (buckets.length > 1 ? buckets[1][0] / b[0] : 2);
        return { lo: previous, hi: b[0], n: b[1] };
      });
      const x = d3.scaleLog().domain([bars[0].lo, bars[bars.length - 1].hi]).range([40, width - 8]);
      const y = d3.scaleLinear().domain([0, d3.max(bars, (b) => b.n) || 1]).nice(3).range([base, 14]);
      svg.append("g").selectAll("rect").data(bars).join("rect").attr("class", "bar")
        .attr("x", (b) => x(b.lo)).attr("width", (b) => Math.max(0.5, x(b.hi) - x(b.lo) - 0.3))
        .attr("y", (b) => y(b.n)).attr("height", (b) => y(0) - y(b.n))
        .call(hover, (b) => [ms(b.lo) + " – " + ms(b.hi), fmt(b.n) + " " + what]);
      const quantiles = [["p50", hist.p50_ms], ["p90", hist.p90_ms], ["p99", hist.p99_ms]]
        .filter((q) => q[1] > 0 && q[1] >= x.domain()[0] && q[1] <= x.domain()[1]);
      const q = svg.append("g").selectAll("g").data(quantiles).join("g");
      q.append("line").attr("class", "quantile").attr("x1", (d) => x(d[1])).attr("x2", (d) => x(d[1]))
        .attr("y1", 12).attr("y2", base);
      // A label right of its line, or left of it where it would run past the chart's right edge.
      q.append("text").attr("class", "quantile-label").attr("y", (d, i) => 12 + i * 10).text((d) => d[0])
        .each(function (d) {
          const w = this.getComputedTextLength();
          const right = x(d[1]) + 2 + w <= width - 2;
          d3.select(this).attr("x", right ? x(d[1]) + 2 : x(d[1]) - 2 - w);
        });
      svg.append("g").attr("class", "axis").attr("transform", "translate(0," + base + ")")
        .call(d3.axisBottom(x).ticks(4, "~g").tickSize(3));
      svg.append("g").attr("class", "axis").attr("transform", "translate(40,0)")
        .call(d3.axisLeft(y).ticks(3, "~s").tickSize(3));
      svg.append("text").attr("class", "axis-title").attr("x", width - 8).attr("y", height - 4)
        .attr("text-anchor", "end").text("latency, ms (log scale)");
      svg.append("text").attr("class", "axis-title").attr("x", 2).attr("y", 8).text(what);
    });
  }

  function traces() {
    const t = data.traces;
    if (!t) {
      d3.select("#trace-note").text("No zipkin.json or flow.json in this run: run with --flows zipkin (or spigo) to see trace waterfalls.");
      return;
    }
    const notes = t.notes.length ? " " + t.notes.map((n) => n[0].toUpperCase() + n.slice(1)).join(". ") + "." : "";
    d3.select("#trace-note").text(fmt(t.total) + " traces in " + t.file + "; shown: "
      + t.shown.map((s) => [s.label, ...s.also].join(" and ")).join(", ") + "." + notes);
    const services = Array.from(new Set(t.shown.flatMap((s) => s.rows.map((r) => r.service)))).sort();
    const colour = d3.scaleOrdinal(services, PALETTE);
    for (const trace of t.shown) {
      const block = d3.select("#traces").append("div").attr("class", "trace");
      block.append("h3").text([trace.label, ...trace.also].join(" and ") + ": " + ms(trace.ms) + ", " + fmt(trace.spans) + " spans"
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
