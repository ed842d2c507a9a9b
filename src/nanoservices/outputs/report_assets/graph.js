/* The architecture graph: zone lanes, nodes, a label per service and zone (report.js first). */
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
        + " in one zone (" + fmt(nodes.length) + (nodes.length === 1 ? " node" : " nodes") + "), sized by its instance count.");
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
    if (globals.length) cells.set("*/*", { key: "*/*", label: "global", x: 0, y: 0, w: width, h: globalHeight, n: 0 });
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
        cells.set(region + "/" + zone, { key: region + "/" + zone, label, x: left, y: top, w, h, n: 0 });
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
        n.x = Math.max(c.x + n.r + INSET, Math.min(c.x + c.w - n.r - INSET, n.x));
        n.y = Math.max(c.y + n.r + INSET + 14, Math.min(c.y + c.h - n.r - INSET, n.y));
      }
    }

    const cell = svg.append("g").selectAll("g").data(Array.from(cells.values())).join("g").attr("class", "cell")
      .attr("data-cell", (c) => c.key);
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
      .attr("data-name", (n) => n.name).attr("data-cell", (n) => cellOf(n).key)
      .attr("cx", (n) => n.x).attr("cy", (n) => n.y).attr("r", (n) => n.r)
      .attr("fill", (n) => colour(n.package))
      .style("stroke", (n) => (versioned && n.version ? versionColour(n.version) : null));
    serviceLabels(svg, nodes, cellOf);
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

  // One label per service and zone, beside the group's most central node, placed where it overlaps
  // no label placed before it (tried right, left, below, above) and inside the group's cell.
  function serviceLabels(svg, nodes, cellOf) {
    const groups = d3.groups(nodes, (n) => n.service + "|" + n.region + "|" + n.zone)
      .sort((a, b) => d3.sum(b[1], (n) => n.count) - d3.sum(a[1], (n) => n.count));
    const placed = [];
    const overlap = (a, b) => Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1))
      * Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
    const layer = svg.append("g");
    for (const [key, members] of groups) {
      const cx = d3.mean(members, (n) => n.x);
      const cy = d3.mean(members, (n) => n.y);
      const anchor = d3.least(members, (n) => (n.x - cx) ** 2 + (n.y - cy) ** 2);
      const cell = cellOf(anchor);
      const text = layer.append("text").attr("class", "service-label").attr("data-group", key)
        .attr("data-cell", cell.key)
        .text(anchor.service);
      const w = text.node().getComputedTextLength();
      const h = 10;
      const r = anchor.r;
      const spots = [[anchor.x + r + 2, anchor.y + 3.5], [anchor.x - r - 2 - w, anchor.y + 3.5],
        [anchor.x - w / 2, anchor.y + r + 10], [anchor.x - w / 2, anchor.y - r - 3]];
      let best = null;
      for (const [x0, y0] of spots) {
        const x = Math.max(cell.x + INSET, Math.min(cell.x + cell.w - INSET - w, x0));
        const y = Math.max(cell.y + INSET + h + 14, Math.min(cell.y + cell.h - INSET, y0));
        const box = { x1: x, y1: y - h, x2: x + w, y2: y };
        const cost = d3.sum(placed, (p) => overlap(p, box));
        if (!best || cost < best.cost) best = { box, cost };
        if (!cost) break;
      }
      placed.push(best.box);
      text.attr("x", best.box.x1).attr("y", best.box.y2 - 1.5);
    }
  }
