// Live sliders over a race figure (plots/live.py): the app's component and the exported HTML both run this file.
//
// LiveRace.mount(root, spec, handlers) draws spec.figure (a Plotly figure) into root with one <input type=range>
// per live slider. Each slider holds one precomputed family: row j is the optimizer's whole path at values[j]
// (paths thinned to what the figure can show and packed in uint16 quanta over spec.box, plots/live.py).
// Dragging a slider, or holding an arrow key on it, restyles that optimizer's path, its head and its ✕ (a diverged
// row) with no server round trip; the other paths stay. The released value is handed to handlers.commit
// (the app reruns with it; the exported page rebuilds its animation frames from the family, so Play runs what is
// shown). A live drag shows whole paths: Play runs the committed race.
(function () {
  "use strict";

  const KEY_COMMIT_MS = 500;  // arrow keys: the commit waits this long after the last press
  const SETTLE_MS = 150;  // a resting slider's legend entry and ✕ label are redrawn after this long
  const RELEASE_SETTLE_MS = 1500;  // ... or this long after a release in the app, unless the committed race came

  function bytes(text) {
    const raw = atob(text);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function format(value) {
    if (value === 0) return "0";
    const text = Math.abs(value) >= 1e-3 && Math.abs(value) < 1e4 ? String(+value.toPrecision(4)) : value.toExponential(2);
    return text;
  }

  // One family: every kept point's quanta decoded once (deltas and jumps, plots/live.py), rows made on demand.
  function Family(slider, box) {
    const family = slider.family;
    this.slider = slider;
    this.box = box;
    this.offsets = new Uint32Array(bytes(family.offsets));
    const deltas = new Int8Array(bytes(family.deltas)), jumps = new Uint16Array(bytes(family.jumps));
    const gaps = new Uint8Array(bytes(family.gaps));
    const n = gaps.length;
    this.qx = new Uint16Array(n);
    this.qy = new Uint16Array(n);
    this.steps = new Uint32Array(n);  // each kept point's step: the gaps summed within a row
    let jump = 0;
    for (let i = 0; i < n; i++) {
      if (deltas[2 * i] === -128 && deltas[2 * i + 1] === -128) {
        this.qx[i] = jumps[2 * jump];
        this.qy[i] = jumps[2 * jump + 1];
        jump++;
      } else {
        this.qx[i] = this.qx[i - 1] + deltas[2 * i];
        this.qy[i] = this.qy[i - 1] + deltas[2 * i + 1];
      }
      this.steps[i] = gaps[i] === 0 ? 0 : this.steps[i - 1] + gaps[i];
    }
    this.rows = {};
  }

  Family.prototype.row = function (j) {
    if (this.rows[j]) return this.rows[j];
    const [x0, y0, x1, y1] = this.box;
    const sx = (x1 - x0) / 65535, sy = (y1 - y0) / 65535;
    const lo = this.offsets[j], hi = this.offsets[j + 1];
    const x = new Float64Array(hi - lo), y = new Float64Array(hi - lo), k = this.steps.subarray(lo, hi);
    for (let i = lo; i < hi; i++) {
      x[i - lo] = x0 + this.qx[i] * sx;
      y[i - lo] = y0 + this.qy[i] * sy;
    }
    const family = this.slider.family;
    const row = { x: x, y: y, k: k, diverged: family.diverged[j], reason: family.reason[j], final: family.final[j],
                  cross: family.cross[j] };
    this.rows[j] = row;
    return row;
  };

  function valueText(slider, j, row) {
    const value = `${slider.symbol} = ${format(slider.values[j])}`;
    if (row.diverged >= 0) return `${value}: diverged at step ${row.diverged} (${row.reason})`;
    return `${value}: final loss ${format(row.final)}`;
  }

  function LiveRace(root, spec, handlers) {
    this.root = root;
    this.handlers = handlers || {};
    root.classList.add("live-race");
    this.chart = document.createElement("div");
    this.chart.className = "live-race-chart";
    this.panel = document.createElement("div");
    this.panel.className = "live-race-sliders";
    this.panel.setAttribute("role", "group");
    this.panel.setAttribute("aria-label", "live hyper-parameters: drag to redraw a path");
    root.appendChild(this.chart);
    root.appendChild(this.panel);
    this.repaints = 0;
    this.update(spec);
  }

  LiveRace.prototype.update = function (spec) {
    if (this.spec && this.spec.figure_id === spec.figure_id) return Promise.resolve();  // the same race: kept
    this.flush();  // a keyboard commit still waiting goes out before the sliders are replaced
    clearTimeout(this.settling);
    this.spec = spec;
    this.families = spec.sliders.map((slider) => new Family(slider, spec.box));
    this.live = {};
    this.unlabelled = {};  // slider → position painted, its legend entry and ✕ label not yet redrawn
    const heads = spec.figure.data.find((trace) => trace.name === "positions θₖ") || { x: [], y: [] };
    this.headX = Array.from(heads.x);
    this.headY = Array.from(heads.y);
    if (!this.handlers.commit) {  // the exported page rebuilds its frames from these (the app gets new ones)
      this.originalFrames = (spec.figure.frames || []).map((frame) => JSON.parse(JSON.stringify(frame)));
    }
    const config = Object.assign({ displaylogo: false, responsive: true }, spec.config || {});
    const done = Plotly.react(this.chart, Object.assign({}, spec.figure, { config: config }));
    this.drawSliders();
    return done.then(() => {
      if (this.handlers.start && !this.chart.dataset.clicks) {
        this.chart.dataset.clicks = "1";
        this.chart.on("plotly_click", (event) => {
          const point = event.points && event.points[0];
          if (point && point.data && point.data.name === "click-grid") this.handlers.start(point.x, point.y);
        });
      }
      if (this.handlers.drawn) this.handlers.drawn();
    });
  };

  LiveRace.prototype.drawSliders = function () {
    const focused = this.panel.contains(document.activeElement) ? document.activeElement.id : null;
    this.panel.replaceChildren();
    this.inputs = [];
    this.shows = [];
    const rows = {};
    this.spec.sliders.forEach((slider, s) => {
      const id = `live-${slider.optimizer}-${slider.key}`;
      const line = document.createElement("div");
      line.className = "live-slider";
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = `${slider.optimizer} ${slider.symbol}`;
      label.style.color = slider.colour;
      const input = document.createElement("input");
      input.type = "range";
      input.id = id;
      input.min = "0";
      input.max = String(slider.values.length - 1);
      input.step = "1";
      input.value = String(slider.index);
      input.setAttribute("aria-label", slider.label);
      input.dataset.optimizer = slider.optimizer;
      input.dataset.key = slider.key;
      const output = document.createElement("output");
      output.htmlFor = id;
      const show = (j) => {
        const text = slider.family.inert ? `${slider.symbol} has no effect here: the schedule sets ρₖ itself`
          : valueText(slider, j, this.families[s].row(j));
        input.setAttribute("aria-valuetext", text);
        output.textContent = text;
      };
      show(slider.index);
      input.disabled = Boolean(slider.family.inert);
      input.addEventListener("input", () => this.move(s, Number(input.value)));
      // A pointer's release commits at once; arrow keys commit once they stop (a held key repaints, then commits).
      input.addEventListener("pointerdown", () => { input.dataset.keyboard = ""; });
      input.addEventListener("keydown", () => { input.dataset.keyboard = "1"; });
      input.addEventListener("change", () => {
        const j = Number(input.value);
        if (this.pending && this.pending.slider !== s) this.flush();  // another slider's commit is not lost
        clearTimeout(this.pending && this.pending.timer);
        this.pending = null;
        if (!input.dataset.keyboard) { this.release(s, j); return; }
        this.pending = { slider: s, position: j, timer: setTimeout(() => this.flush(), KEY_COMMIT_MS) };
      });
      line.appendChild(label);
      line.appendChild(input);
      line.appendChild(output);
      if (!rows[slider.optimizer]) {  // one row per optimizer: ρ, then its second hyper-parameter
        rows[slider.optimizer] = document.createElement("div");
        rows[slider.optimizer].className = "live-optimizer";
        this.panel.appendChild(rows[slider.optimizer]);
      }
      rows[slider.optimizer].appendChild(line);
      this.inputs.push(input);
      this.shows.push(show);
      if (id === focused) input.focus();  // a commit's redraw keeps the keyboard where it was
    });
  };

  // Slider s moved to position j. An optimizer's other slider goes back to the race's value: each family is
  // computed at the other's committed value, so only one of them can differ from the race at a time. With one
  // shared ρ (spec.linked_lr) every ρ slider moves together.
  LiveRace.prototype.move = function (s, j) {
    const slider = this.spec.sliders[s];
    const moved = this.spec.linked_lr && slider.key === "lr"
      ? this.spec.sliders.map((other, t) => t).filter((t) => this.spec.sliders[t].key === "lr"
                                                         && this.spec.sliders[t].values.length === slider.values.length)
      : [s];
    this.spec.sliders.forEach((other, t) => {
      if (moved.includes(t)) return;
      if (moved.some((m) => this.spec.sliders[m].optimizer === other.optimizer)
          && Number(this.inputs[t].value) !== other.index) {
        this.inputs[t].value = String(other.index);
        this.shows[t](other.index);
      }
    });
    moved.forEach((t) => {
      if (t !== s) this.inputs[t].value = String(j);
      this.shows[t](j);
      this.paint(t, j);
    });
  };

  // Redraw slider s's optimizer at position j: its path, its head (the path's end) and its ✕. Plotly.animate with
  // no redraw moves only these traces (a restyle would recalculate and redraw the whole figure: the landscape, the
  // isolines, the click grid and the animation controls); the legend entry and the ✕'s label, which need a redraw,
  // follow once the slider rests for SETTLE_MS.
  LiveRace.prototype.paint = function (s, j) {
    const slider = this.spec.sliders[s];
    const row = this.families[s].row(j);
    this.headX[slider.head] = row.x[row.x.length - 1];
    this.headY[slider.head] = row.y[row.y.length - 1];
    const cross = row.diverged >= 0 ? row.cross : null;
    this.live[slider.optimizer] = { slider: s, position: j };
    Plotly.animate(this.chart, {
      data: [{ x: row.x, y: row.y, customdata: Array.from(row.k) }, { x: this.headX.slice(), y: this.headY.slice() },
             { x: cross ? [cross[0]] : [], y: cross ? [cross[1]] : [], text: [] }],
      traces: [slider.trace, slider.heads, slider.trace_cross],
    }, { transition: { duration: 0 }, frame: { duration: 0, redraw: false }, mode: "immediate" }).then(() => {
      this.repaints += 1;  // drawn (a move that the next one overtakes before it is drawn is not)
      this.chart.dataset.repaints = String(this.repaints);
    }, () => {});
    this.unlabelled[s] = j;
    clearTimeout(this.settling);
    this.settling = setTimeout(() => this.settle(), SETTLE_MS);
  };

  // The legend entries and ✕ labels of the sliders painted since their last redraw, at the positions painted. A
  // resting slider gets them after SETTLE_MS; in the app a release leaves them to the committed race, and to this
  // call RELEASE_SETTLE_MS later where the rerun brought back the race already shown.
  LiveRace.prototype.settle = function () {
    clearTimeout(this.settling);
    const pending = this.unlabelled;
    this.unlabelled = {};
    const traces = [], names = [], texts = [], customdata = [];
    Object.keys(pending).forEach((key) => {
      const slider = this.spec.sliders[Number(key)];
      const row = this.families[Number(key)].row(pending[key]);
      const said = row.diverged >= 0 ? `${slider.optimizer} diverged at step ${row.diverged}` : null;
      traces.push(slider.trace, slider.trace_cross);
      names.push(slider.names[pending[key]], this.chart.data[slider.trace_cross].name);
      texts.push(null, said ? [said] : []);
      customdata.push(Array.from(row.k), said ? [`${slider.optimizer}: ${row.reason} at step ${row.diverged}`] : []);
    });
    if (traces.length) Plotly.restyle(this.chart, { name: names, text: texts, customdata: customdata }, traces);
  };

  // A keyboard commit waiting for its keys to stop goes out now.
  LiveRace.prototype.flush = function () {
    const pending = this.pending;
    this.pending = null;
    if (!pending) return;
    clearTimeout(pending.timer);
    this.release(pending.slider, pending.position);
  };

  // The released value: the app commits it; the exported page rebuilds the frames so Play runs what is shown.
  LiveRace.prototype.release = function (s, j) {
    const slider = this.spec.sliders[s];
    if (this.handlers.commit) {
      // The committed race brings its own legend and ✕ label: a resting redraw now would only compete with it, so it
      // waits; it is still made if the rerun brings back the race already shown (no new figure, nothing redrawn).
      clearTimeout(this.settling);
      this.settling = setTimeout(() => this.settle(), RELEASE_SETTLE_MS);
      this.handlers.commit({ optimizer: slider.optimizer, key: slider.key, index: j, value: slider.values[j] });
      return;
    }
    this.rebuildFrames();
  };

  LiveRace.prototype.rebuildFrames = function () {
    const frames = JSON.parse(JSON.stringify(this.originalFrames));
    for (const optimizer in this.live) {
      const { slider: s, position: j } = this.live[optimizer];
      const slider = this.spec.sliders[s];
      const row = this.families[s].row(j);
      frames.forEach((frame) => {
        const k = Number(frame.name);
        let n = 0;
        while (n < row.k.length && row.k[n] <= k) n++;
        const at = frame.traces.indexOf(slider.trace);
        const heads = frame.traces.indexOf(slider.heads);
        frame.data[at] = Object.assign({}, frame.data[at], { x: Array.from(row.x.subarray(0, n)),
                                                             y: Array.from(row.y.subarray(0, n)) });
        const hx = Array.from(frame.data[heads].x), hy = Array.from(frame.data[heads].y);
        hx[slider.head] = row.x[n - 1];
        hy[slider.head] = row.y[n - 1];
        frame.data[heads] = Object.assign({}, frame.data[heads], { x: hx, y: hy });
      });
    }
    return Plotly.addFrames(this.chart, frames);  // frames of the same names replace the old ones
  };

  window.LiveRace = {
    mount: function (root, spec, handlers) { return new LiveRace(root, spec, handlers); },
  };
})();
