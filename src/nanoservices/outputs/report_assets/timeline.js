/* The timeline of events and the per-service charts under it, on one time axis (report.js first). */
  // Timeline and charts share one x scale: seconds since the run started.
  function timeScale(width) {
    let end = data.series ? data.series.end || data.series.seconds : 0;
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
    // Each mark is labelled (kind and target) in the first label row of its lane that has room;
    // a lane has at most LABEL_ROWS rows, and a mark with no room is left unlabelled (counted).
    const LABEL_ROWS = 4;
    const dotRow = 16;
    const labelRow = 12;
    const rowsOf = new Map(lanes.map((l) => [l, []]));
    const probe = svg.append("text").attr("class", "event-label");
    // The target is named when it differs from the previous mark's in the lane (a deploy's steps
    // name their service once).
    const previous = new Map();
    const label = (e) => {
      const target = (e.service || "") + (e.dependency ? " → " + e.dependency : "");
      const same = previous.get(lane(e.kind)) === target;
      previous.set(lane(e.kind), target);
      return e.kind + (target && !same ? " " + target : "");
    };
    const placements = events.map((e) => {
      const text = label(e);
      const w = probe.text(text).node().getComputedTextLength();
      const rows = rowsOf.get(lane(e.kind));
      let x0 = x(e.at) - 3;
      if (x0 + w > width - 2) x0 = x(e.at) + 3 - w; // near the right edge: the label ends at its mark
      x0 = Math.max(2, x0);
      for (let r = 0; r < LABEL_ROWS; r += 1) {
        if (r === rows.length) rows.push(-Infinity);
        if (rows[r] + 6 <= x0) {
          rows[r] = x0 + w;
          return { text, x: x0, row: r };
        }
      }
      return null;
    });
    probe.remove();
    const laneHeights = lanes.map((l) => dotRow + labelRow * rowsOf.get(l).length + 4);
    const laneTop = lanes.map((l, i) => d3.sum(laneHeights.slice(0, i)));
    const height = d3.sum(laneHeights) + 24;
    svg.attr("height", height).attr("viewBox", "0 0 " + width + " " + height);
    const y = (l) => laneTop[lanes.indexOf(l)];
    const hOf = (l) => laneHeights[lanes.indexOf(l)];
    const rows = svg.append("g").selectAll("g").data(lanes).join("g");
    rows.append("rect").attr("class", "lane").attr("x", x.range()[0]).attr("width", x.range()[1] - x.range()[0])
      .attr("y", (l) => y(l) + 2).attr("height", (l) => hOf(l) - 4);
    rows.append("text").attr("class", "lane-label").attr("x", 4).attr("y", (l) => y(l) + 13).text((l) => l);
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
      .attr("y", (b) => y(lane(b.from.kind)) + 4).attr("height", (b) => hOf(lane(b.from.kind)) - 8)
      .attr("fill", (b) => (lane(b.from.kind) === "breakers" ? "#ea580c" : "#be123c"));
    const marks = svg.append("g").selectAll("g").data(events).join("g").attr("class", "event")
      .attr("data-kind", (e) => e.kind)
      .attr("transform", (e) => "translate(" + x(e.at) + "," + (y(lane(e.kind)) + 10) + ")");
    marks.append("circle").attr("r", 5).attr("fill", (e) => KIND_COLOURS[e.kind] || "#475569");
    svg.append("g").selectAll("text").data(events.map((e, i) => [e, placements[i]]).filter((d) => d[1])).join("text")
      .attr("class", "event-label").attr("x", (d) => d[1].x)
      .attr("y", (d) => y(lane(d[0].kind)) + dotRow + labelRow * d[1].row + 9)
      .style("fill", (d) => KIND_COLOURS[d[0].kind] || "#475569").text((d) => d[1].text);
    hover(marks, (e) => [e.kind + (e.service ? " " + e.service : ""), describe(e)]);
    const unlabelled = placements.filter((p) => !p).length;
    if (unlabelled) {
      const note = d3.select("#timeline-note");
      note.text((note.text() ? note.text() + " " : "") + fmt(unlabelled)
        + " marks are unlabelled where labels would overlap; hover a mark, or read the list below.");
    }
    svg.append("g").attr("class", "axis").attr("transform", "translate(0," + (height - 22) + ")")
      .call(d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 90))).tickFormat((s) => s + " s"));
    d3.select("#event-list").selectAll("div").data(events).join("div")
      .each(function (e) {
        const row = d3.select(this);
        row.append("span").attr("class", "t").text(e.at.toFixed(2) + " s");
        row.append("span").text(describe(e).split("  ·  ").slice(1).join("  ·  "));
      });
  }

  // A point is [second, requests, errors, p50, p99, covered]: `covered` is the part of the second the
  // traffic ran, so a partial last second is a rate over the time it covers, drawn at its middle.
  const METRICS = [
    { key: "rate", label: "requests/s", unit: "req/s", value: (p) => [p[1] / p[5]] },
    { key: "errors", label: "error rate %", unit: "% errors", value: (p) => [p[1] ? (100 * p[2]) / p[1] : 0] },
    { key: "latency", label: "p50 / p99 ms (dashed)", unit: "ms", value: (p) => [p[3], p[4]] },
  ];

  function charts() {
    const series = data.series;
    if (!series) {
      d3.select("#charts-note").text("No timeseries.csv in this run: per-service charts over time need it.");
      return;
    }
    if (!Object.keys(series.services).length) {
      d3.select("#charts-note").text("timeseries.csv has no rows: no service answered a request in this run.");
      return;
    }
    const notes = ["Per service, split by version (line colour); zones summed, p50 averaged by requests, p99 their maximum."
      + " Seconds since the traffic started; a partial second is a rate over the part the traffic ran."];
    if (series.left_out.length) {
      notes.push("Left out: second" + (series.left_out.length > 1 ? "s " : " ") + series.left_out.join(", ")
        + " (the traffic ran " + series.end.toFixed(2) + " s, so " + (series.left_out.length > 1 ? "they cover" : "it covers")
        + " under a quarter of a second of it: too little to draw as a rate).");
    }
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
        const height = 80;
        const base = height - 30;
        const svg = container.append("svg").attr("class", "chart").attr("height", height)
          .attr("viewBox", "0 0 " + width + " " + height);
        const values = Object.values(byVersion).flatMap((points) => points.flatMap(metric.value));
        const y = d3.scaleLinear().domain([0, d3.max(values) || 1]).nice(3).range([base, 6]);
        svg.append("text").attr("class", "row-label").attr("x", 4).attr("y", 16)
          .text(service.length > 14 ? service.slice(0, 13) + "…" : service).append("title").text(service);
        svg.append("text").attr("class", "row-label").attr("x", 4).attr("y", 30).style("fill", "#64748b")
          .text(fmt(series.totals[service]) + " req");
        svg.append("text").attr("class", "row-label unit").attr("x", 4).attr("y", 44).text(metric.unit);
        svg.append("g").attr("class", "axis").attr("transform", "translate(" + x.range()[0] + ",0)")
          .call(d3.axisLeft(y).ticks(3).tickSize(3));
        svg.append("g").attr("class", "axis time-axis").attr("transform", "translate(0," + base + ")")
          .call(d3.axisBottom(x).ticks(Math.max(2, Math.floor(width / 90))).tickSize(3).tickFormat((v) => v + " s"));
        svg.append("g").selectAll("line").data(marks).join("line").attr("class", "event-line")
          .attr("x1", (e) => x(e.at)).attr("x2", (e) => x(e.at)).attr("y1", 4).attr("y2", base);
        for (const [version, points] of Object.entries(byVersion)) {
          metric.value(points[0] || [0, 0, 0, 0, 0, 1]).forEach((_, which) => {
            const value = (p) => metric.value(p)[which];
            const line = d3.line().defined((p) => value(p) !== null).x((p) => x(p[0] + p[5] / 2)).y((p) => y(value(p)));
            svg.append("path").attr("class", "series" + (which ? " p99" : ""))
              .attr("data-service", service).attr("data-version", version).attr("data-metric", metric.key)
              .attr("stroke", versionColour(version)).attr("d", line(points));
          });
        }
      }
    };
    draw(METRICS[0]);
  }
