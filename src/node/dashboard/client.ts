/**
 * The dashboard page's script, served as `GET /dashboard/app.js`: plain
 * browser JavaScript (no build step, no framework) that opens the
 * Server-Sent Events feed, keeps one card per object and one uPlot chart per
 * plot, and computes rates from the difference of two frames' counters. Kept
 * as a string here because the package's TypeScript build knows no DOM; the
 * headless-Chromium test (test/dashboard-browser.test.ts) runs it and fails
 * on any console error.
 *
 * @module
 */

/** The script. */
export const DASHBOARD_JS = String.raw`(function () {
'use strict';
var WINDOW_S = 60;          // seconds of history in charts and timelines
var MAX_POINTS = 1200;
var cards = new Map();      // name -> card
var plots = new Map();      // title -> chart
var prev;                   // previous frame
var frames = 0;
var firstAt;                // time of the first frame
var conn = document.getElementById('conn');
var loopEl = document.getElementById('loop');
var grid = document.getElementById('objects');
var plotsEl = document.getElementById('plots');

function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function num(x, digits) {
  if (typeof x !== 'number' || !isFinite(x)) return '—';
  if (digits === undefined) digits = Math.abs(x) >= 100 || Number.isInteger(x) ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function ms(x) {
  if (typeof x !== 'number' || !isFinite(x)) return '—';
  if (x < 1) return num(x * 1000, 0) + ' µs';
  if (x < 10000) return num(x, x < 10 ? 2 : 1) + ' ms';
  return num(x / 1000, 1) + ' s';
}
function perS(x) { return typeof x === 'number' && isFinite(x) ? num(x, x < 10 ? 1 : 0) + '/s' : '—'; }
function pct(part, whole) { return whole > 0 ? num((100 * part) / whole, 1) + ' %' : '—'; }
function bytes(x) {
  if (typeof x !== 'number' || !isFinite(x)) return '—';
  if (x < 1024) return x + ' B';
  if (x < 1048576) return num(x / 1024, 1) + ' KiB';
  return num(x / 1048576, 1) + ' MiB';
}
function clock(t) {
  var d = new Date(t);
  var p = function (n, w) { return String(n).padStart(w || 2, '0'); };
  return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3);
}
function get(o, path) {
  for (var i = 0; i < path.length && o != null; i++) o = o[path[i]];
  return o;
}

// ---- charts -------------------------------------------------------------------
var COLOURS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ca8a04', '#0891b2', '#db2777', '#64748b'];
function Chart(parent, names, unit) {
  this.names = names;
  this.data = [[]].concat(names.map(function () { return []; }));
  var box = el('div', 'chart');
  parent.appendChild(box);
  this.box = box;
  var width = Math.max(200, box.clientWidth || parent.clientWidth - 24 || 320);
  this.plot = new uPlot({
    width: width, height: 130,
    legend: { show: true, live: false },
    cursor: { show: true, drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [{ values: function (u, vals) { return vals.map(function (v) { return clock(v * 1000).slice(0, 8); }); } }, { size: 56, values: function (u, vals) { return vals.map(function (v) { return num(v) + (unit ? ' ' + unit : ''); }); } }],
    series: [{}].concat(names.map(function (n, i) { return { label: n, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: false }; })),
  }, this.data, box);
}
Chart.prototype.push = function (t, values) {
  var d = this.data;
  d[0].push(t);
  for (var i = 0; i < this.names.length; i++) {
    var v = values[i];
    d[i + 1].push(typeof v === 'number' && isFinite(v) ? v : null);
  }
  var cut = 0;
  while (cut < d[0].length && (d[0][cut] < t - WINDOW_S || d[0].length - cut > MAX_POINTS)) cut++;
  if (cut > 0) for (var j = 0; j < d.length; j++) d[j].splice(0, cut);
  this.plot.setData(d);
};
Chart.prototype.resize = function () {
  var w = Math.max(200, this.box.clientWidth);
  if (w !== this.plot.width) this.plot.setSize({ width: w, height: 130 });
};
window.addEventListener('resize', function () {
  cards.forEach(function (c) { if (c.chart) c.chart.resize(); });
  plots.forEach(function (c) { c.resize(); });
});

// ---- cards --------------------------------------------------------------------
function Card(name, kind) {
  this.name = name;
  this.kind = kind;
  var root = el('section', 'card');
  root.dataset.object = name;
  root.dataset.kind = kind;
  var h = el('h2');
  h.appendChild(el('span', 'name', name));
  h.appendChild(el('span', 'kind', kind));
  root.appendChild(h);
  this.extra = el('div');
  root.appendChild(this.extra);
  this.dl = el('dl');
  root.appendChild(this.dl);
  this.rows = new Map();
  this.root = root;
  grid.appendChild(root);
}
// One figure: label, text, and an optional class ('alarm', 'good') or bar [value, limit].
Card.prototype.row = function (label, text, cls, bar) {
  var r = this.rows.get(label);
  if (!r) {
    var dt = el('dt', '', label);
    var dd = el('dd');
    dd.dataset.field = label;
    var span = el('span');
    dd.appendChild(span);
    this.dl.appendChild(dt);
    this.dl.appendChild(dd);
    r = { dd: dd, span: span, bar: null };
    this.rows.set(label, r);
  }
  r.span.textContent = text;
  r.span.className = cls || '';
  if (bar) {
    if (!r.bar) {
      r.bar = el('div', 'bar');
      r.fill = el('div', 'fill');
      r.bar.appendChild(r.fill);
      r.dd.appendChild(r.bar);
    }
    var share = bar[1] > 0 && isFinite(bar[0]) ? Math.min(1, bar[0] / bar[1]) : 0;
    r.fill.style.width = (100 * share).toFixed(1) + '%';
    r.fill.className = bar[0] > bar[1] ? 'fill over' : 'fill';
  }
};
Card.prototype.chartOf = function (names, unit) {
  if (!this.chart) this.chart = new Chart(this.root, names, unit);
  return this.chart;
};

// Per-second rate of a counter between this frame and the previous one.
function rateOf(o, p, path, dt) {
  if (!p || !p.stats || !o.stats || !(dt > 0)) return NaN;
  var a = get(o.stats, path), b = get(p.stats, path);
  return typeof a === 'number' && typeof b === 'number' && a >= b ? (a - b) / dt : NaN;
}
function delta(o, p, path) {
  if (!p || !p.stats) return NaN;
  var a = get(o.stats, path), b = get(p.stats, path);
  return typeof a === 'number' && typeof b === 'number' ? a - b : NaN;
}

function ageRow(card, label, age, limit) {
  var has = typeof limit === 'number' && limit > 0;
  var stale = has && age > limit;
  card.row(label, ms(age) + (has ? ' / ' + ms(limit) + (stale ? ' STALE' : '') : ''), stale ? 'alarm' : '', has ? [age, limit] : null);
}

function lockRows(card, s, o, p, dt, prefix) {
  var acq = rateOf(o, p, prefix.concat('acquisitions'), dt);
  var cont = delta(o, p, prefix.concat('contended'));
  var acqD = delta(o, p, prefix.concat('acquisitions'));
  card.row('acquisitions', perS(acq) + ' (' + num(s.acquisitions) + ' in all)');
  card.row('contended', (acqD > 0 ? pct(cont, acqD) + ' now, ' : '') + pct(s.contended, s.acquisitions) + ' in all');
  card.row('wait p50 / p90 / p99', ms(s.waitP50Ms) + ' / ' + ms(s.waitP90Ms) + ' / ' + ms(s.waitP99Ms));
  card.row('longest wait / hold', ms(s.waitMaxMs) + ' / ' + ms(s.holdMaxMs));
  card.row('timeouts · owner died', num(s.timeouts) + ' · ' + num(s.ownerDied), s.ownerDied > 0 ? 'alarm' : '');
  return [acq, rateOf(o, p, prefix.concat('contended'), dt)];
}

function timeline(card, o, now) {
  if (!card.tl) {
    card.state = el('div', 'state');
    card.tl = el('div', 'timeline');
    card.axis = el('div', 'axis');
    card.axis.appendChild(el('span', '', '-' + WINDOW_S + ' s'));
    card.axis.appendChild(el('span', '', 'now'));
    card.list = el('ol', 'transitions');
    card.extra.appendChild(card.state);
    card.extra.appendChild(card.tl);
    card.extra.appendChild(card.axis);
    card.extra.appendChild(card.list);
  }
  var s = o.stats;
  var states = o.states || [];
  var index = function (st) { var i = states.indexOf(st); return i < 0 ? 0 : i; };
  card.state.textContent = s.state;
  card.state.className = 'state' + (/stop|fault|error|fail/i.test(s.state) ? ' alarm' : '');
  var ts = (o.transitions || []).slice().sort(function (a, b) { return a.at - b.at; });
  // From the page's first frame (or the first transition it knows of, if earlier), at most WINDOW_S back.
  var from = Math.max(now - WINDOW_S * 1000, Math.min(firstAt, ts.length > 0 ? ts[0].at : firstAt));
  if (!(now - from > 1000)) from = now - 1000;
  card.axis.firstChild.textContent = '-' + num((now - from) / 1000, 0) + ' s';
  var segs = [];
  var state = ts.length > 0 ? ts[0].from : s.state;
  var start = from;
  for (var i = 0; i < ts.length; i++) {
    if (ts[i].at > from) segs.push([state, start, ts[i].at]);
    state = ts[i].to;
    start = Math.max(from, ts[i].at);
  }
  segs.push([state, start, now]);
  card.tl.replaceChildren();
  segs.forEach(function (g) {
    var left = (g[1] - from) / (now - from), width = (g[2] - g[1]) / (now - from);
    if (width <= 0) return;
    var d = el('div', 'seg s' + (index(g[0]) % 8), g[0]);
    d.style.left = (100 * left).toFixed(2) + '%';
    d.style.width = (100 * width).toFixed(2) + '%';
    d.title = g[0];
    card.tl.appendChild(d);
  });
  card.list.replaceChildren();
  ts.slice(-5).forEach(function (t) {
    card.list.appendChild(el('li', '', clock(t.at) + '  ' + t.from + ' → ' + t.to + (t.reason ? ': ' + t.reason : '')));
  });
}

function show(card, o, p, dt, frame) {
  var s = o.stats;
  var k = o.kind.replace(/^Redis/, '');
  var redis = o.kind !== k;
  if (k === 'StateBuffer' && !redis) {
    card.row('version', num(s.version));
    var u = rateOf(o, p, ['updates'], dt), r = rateOf(o, p, ['reads'], dt);
    card.row('updates', perS(u));
    card.row('reads', perS(r));
    card.row('fresh / stale / retried', perS(rateOf(o, p, ['freshReads'], dt)) + ' / ' + perS(rateOf(o, p, ['staleReads'], dt)) + ' / ' + perS(rateOf(o, p, ['readRetries'], dt)),
      rateOf(o, p, ['staleReads'], dt) > 0 ? 'alarm' : '');
    ageRow(card, 'age', s.lastUpdateAgeMs, o.maxAgeMs);
    if (s.writersDied > 0) card.row('writers died', num(s.writersDied), 'alarm');
    card.chartOf(['updates/s', 'reads/s']).push(frame.at / 1000, [u, r]);
  } else if (k === 'SnapshotStore' && !redis) {
    card.row('version', num(s.version));
    var pub = rateOf(o, p, ['publishes'], dt);
    card.row('publishes', perS(pub) + ' · last ' + bytes(s.lastBytes));
    card.row('decodes · retried reads', perS(rateOf(o, p, ['decodes'], dt)) + ' · ' + perS(rateOf(o, p, ['readRetries'], dt)));
    card.row('space', bytes(s.dataBytes) + ' of ' + bytes(s.maxBytes));
    ageRow(card, 'age', s.lastPublishAgeMs, o.maxAgeMs);
    card.chartOf(['publishes/s']).push(frame.at / 1000, [pub]);
  } else if (k === 'SharedMap' && !redis) {
    card.row('entries', num(s.size) + ' · version ' + num(s.version));
    var w = rateOf(o, p, ['writes'], dt);
    card.row('writes', perS(w));
    card.row('retried / locked reads', perS(rateOf(o, p, ['readRetries'], dt)) + ' / ' + perS(rateOf(o, p, ['lockedReads'], dt)));
    card.row('space', bytes(s.usedBytes) + ' of ' + bytes(s.maxBytes), '', [s.usedBytes, s.maxBytes]);
    if (s.writersDied > 0 || s.rollbacks > 0) card.row('writers died · rollbacks', num(s.writersDied) + ' · ' + num(s.rollbacks), 'alarm');
    card.chartOf(['writes/s']).push(frame.at / 1000, [w]);
  } else if ((k === 'Mutex' || k === 'ReentrantMutex') && !redis) {
    card.chartOf(['acquisitions/s', 'contended/s']).push(frame.at / 1000, lockRows(card, s, o, p, dt, []));
  } else if (k === 'RWLock' && !redis) {
    var reads = rateOf(o, p, ['reads'], dt);
    card.row('reads', perS(reads) + ' · ' + pct(delta(o, p, ['readsContended']), delta(o, p, ['reads'])) + ' waited now · ' + num(s.activeReaders) + ' active');
    card.row('longest read wait', ms(s.readWaitMaxMs));
    if (s.readersDied > 0) card.row('readers died', num(s.readersDied), 'alarm');
    var wr = lockRows(card, s.write, o, p, dt, ['write']);
    card.chartOf(['reads/s', 'writes/s', 'contended writes/s']).push(frame.at / 1000, [reads, wr[0], wr[1]]);
  } else if (k === 'Semaphore' && !redis) {
    card.row('permits · waiting', num(s.permits) + ' · ' + num(s.waiting));
    card.row('acquires', perS(rateOf(o, p, ['acquires'], dt)) + ' · contended ' + pct(s.contended, s.acquires));
    card.row('timeouts', num(s.timeouts));
  } else if (k === 'StateMachine') {
    timeline(card, o, frame.at);
    card.row('in state', ms(s.inStateMs));
    card.row('transitions · rejected', num(s.transitions) + ' · ' + num(s.rejected));
    if (redis) card.row('bridged · lost', num(s.bridged) + ' · ' + (s.lost ? 'LOST' : 'no'), s.lost ? 'alarm' : '');
  } else if (k === 'Watchdog') {
    card.row('state', s.expired ? 'EXPIRED' : s.watching === false ? 'ok (checked by another thread)' : 'ok', s.expired ? 'alarm' : 'good');
    ageRow(card, 'since last kick', s.lastKickAgeMs, s.timeoutMs);
    card.row('kicks · expiries', perS(rateOf(o, p, ['kicks'], dt)) + ' · ' + num(s.expiries), s.expiries > 0 ? 'alarm' : '');
  } else if (k === 'RateLoop') {
    card.row('rate', num(s.achievedHz, 1) + ' of ' + num(s.hz) + ' Hz' + (s.running ? '' : ' (stopped)'));
    card.row('jitter p50 / p99 / max', ms(s.jitterP50Ms) + ' / ' + ms(s.jitterP99Ms) + ' / ' + ms(s.jitterMaxMs));
    card.row('overruns · skipped', num(s.overruns) + ' · ' + num(s.skipped), s.skipped > 0 ? 'alarm' : '');
    card.row('longest tick', ms(s.longestTickMs));
    card.chartOf(['jitter p99', 'jitter max'], 'ms').push(frame.at / 1000, [s.jitterP99Ms, s.jitterMaxMs]);
  } else {
    // Any other kind (TriggerFlags, Condition, Redis mirrors, ...): its scalar figures, and a rate for a version.
    if (typeof s.version === 'number') {
      var v = rateOf(o, p, ['version'], dt);
      card.row('version', num(s.version) + ' · ' + perS(v));
      card.chartOf(['versions/s']).push(frame.at / 1000, [v]);
    }
    Object.keys(s).forEach(function (key) {
      var x = s[key];
      if (key === 'version' || key === 'type') return;
      if (typeof x === 'number') card.row(key, /Ms$/.test(key) ? ms(x) : num(x));
      else if (typeof x === 'boolean') card.row(key, x ? 'yes' : 'no', x && /lost|expired|died/i.test(key) ? 'alarm' : '');
      else if (typeof x === 'string') card.row(key, x);
      else if (Array.isArray(x) && x.every(function (e) { return typeof e === 'string'; })) card.row(key, x.join(', ') || '—');
    });
  }
}

function render(frame) {
  frames++;
  if (firstAt === undefined) firstAt = frame.at;
  var dt = prev ? (frame.at - prev.at) / 1000 : 0;
  var before = new Map();
  if (prev) prev.objects.forEach(function (o) { before.set(o.name, o); });
  frame.objects.forEach(function (o) {
    var card = cards.get(o.name);
    if (!card || card.kind !== o.kind) {
      if (card) card.root.remove();
      card = new Card(o.name, o.kind);
      cards.set(o.name, card);
    }
    if (o.error !== undefined || !o.stats) {
      card.row('error', o.error || 'no figures', 'error');
      return;
    }
    try {
      show(card, o, before.get(o.name), dt, frame);
    } catch (e) {
      card.row('error', String(e), 'error');
    }
  });
  Object.keys(frame.plots).forEach(function (title) {
    var values = frame.plots[title];
    var chart = plots.get(title);
    if (!chart) {
      var card = el('section', 'card');
      card.dataset.plot = title;
      card.appendChild(el('h2', '', title));
      plotsEl.appendChild(card);
      chart = new Chart(card, Object.keys(values));
      plots.set(title, chart);
    }
    chart.push(frame.at / 1000, chart.names.map(function (n) { return values[n]; }));
  });
  loopEl.textContent = 'event loop delay p50 ' + ms(frame.loop.p50Ms) + ' · p99 ' + ms(frame.loop.p99Ms) + ' · max ' + ms(frame.loop.maxMs) + ' · frame ' + frame.seq;
  document.body.dataset.frames = String(frames);
  prev = frame;
}

var source = new EventSource('dashboard/feed');
source.onopen = function () { conn.textContent = 'live'; conn.className = 'conn live'; };
source.onerror = function () { conn.textContent = 'reconnecting…'; conn.className = 'conn'; prev = undefined; }; // no rate across the gap
source.onmessage = function (event) { render(JSON.parse(event.data)); };
})();
`
