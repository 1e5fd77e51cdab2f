// The live map of the Wild Rydes fleet. Data comes from this page's own
// server as server-sent events (GET events): a snapshot on connect, then
// positions, summaries and alerts. The browser never talks to AWS.
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('config').textContent);
  var threshold = config.threshold;
  var TRAIL = 30;           // positions per trail
  var LABELS = 12;          // fleets this small get a permanent label per unicorn
  var ALERTS_SHOWN = 30;
  var SUMMARIES_SHOWN = 20;
  var FLEET_SHOWN = 15;

  var params = new URLSearchParams(location.search);
  var reportUrl = params.get('report');

  // What the page holds, also read by tests and benchmarks (?report=URL).
  var state = window.wildrydes = {
    unicorns: new Map(),    // name -> {p, points, marker, trail, ring}
    summaries: [],          // newest last
    alerts: [],             // newest last
    errors: [],
    latencies: [],          // ms from PutRecord to arrival here, since the last report
    frames: [],             // ms between animation frames, since the last report
    events: 0
  };

  function fail(text) { state.errors.push(String(text)); }
  window.addEventListener('error', function (e) {
    fail(e.message || ('cannot load ' + ((e.target && (e.target.src || e.target.href)) || 'a resource')));
  }, true);
  window.addEventListener('unhandledrejection', function (e) { fail(e.reason); });
  var consoleError = console.error.bind(console);
  console.error = function () { fail(Array.prototype.join.call(arguments, ' ')); consoleError.apply(null, arguments); };

  var map = L.map('map', { preferCanvas: true }).setView([40.749167, -73.985184], 15);
  if (config.tiles) {
    L.tileLayer(config.tiles, { maxZoom: 19, attribution: config.attribution }).addTo(map);
  } else {
    document.getElementById('map').classList.add('plain');
  }
  L.control.scale({ imperial: false, maxWidth: 160 }).addTo(map);
  var renderer = L.canvas({ padding: 0.3 });
  var fitted = false;

  function colour(points) {
    return points < threshold ? '#d62828' : points < 2 * threshold ? '#f77f00' : '#2a9d8f';
  }
  function cls(points) {
    return points < threshold ? 'low' : points < 2 * threshold ? 'warn' : 'ok';
  }
  function el(tag, text, className) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (className) e.className = className;
    return e;
  }
  function tip(u) {
    return '<b>' + escapeHtml(u.p[0]) + '</b><br>Magic <span class="' + cls(u.p[3]) + '">' + u.p[3] +
      '</span> &middot; Health <span class="' + cls(u.p[4]) + '">' + u.p[4] + '</span>';
  }
  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  // Changes are applied to the map once per animation frame.
  var dirty = new Set();
  var panelDirty = true;
  var frameRequested = false;
  function schedule() {
    if (!frameRequested) { frameRequested = true; requestAnimationFrame(render); }
  }

  function position(p, trail) {
    var u = state.unicorns.get(p[0]);
    if (!u) {
      u = { p: p, points: trail ? trail.slice(-TRAIL) : [], marker: null, trail: null, ring: null, label: null };
      state.unicorns.set(p[0], u);
    } else if (p[5] < u.p[5]) {
      return;  // older than what is shown
    } else {
      u.p = p;
    }
    if (!trail) {
      u.points.push([p[1], p[2]]);
      if (u.points.length > TRAIL) u.points.shift();
    }
    dirty.add(u);
  }

  // Unicorns highlighted since their alert, until back at or above the threshold.
  var highlighted = new Set();
  function alerted(a) {
    state.alerts.push(a);
    if (state.alerts.length > 200) state.alerts.shift();
    highlighted.add(a.Name);
    var u = state.unicorns.get(a.Name);
    if (u) dirty.add(u);
    panelDirty = true;
  }

  function render() {
    frameRequested = false;
    var small = state.unicorns.size <= LABELS;
    dirty.forEach(function (u) {
      var p = u.p, at = [p[1], p[2]];
      if (!u.marker) {
        u.trail = L.polyline(u.points, { renderer: renderer, color: '#546e7a', weight: 2, opacity: 0.45, interactive: false }).addTo(map);
        u.marker = L.circleMarker(at, { renderer: renderer, radius: 6, weight: 2, color: '#1d3557', fillOpacity: 0.95 }).addTo(map);
        u.marker.bindTooltip(function () { return tip(u); }, { direction: 'top', offset: [0, -6] });
      } else {
        u.marker.setLatLng(at);
        u.trail.setLatLngs(u.points);
      }
      u.marker.setStyle({ fillColor: colour(p[3]), color: colour(p[4]) === '#2a9d8f' ? '#1d3557' : colour(p[4]) });
      if (small) {
        var label = p[0] + ' ' + p[3] + '/' + p[4];
        if (!u.label) { u.label = L.tooltip({ permanent: true, direction: 'right', offset: [8, 0], className: 'label' }).setContent(label).setLatLng(at).addTo(map); }
        else { u.label.setLatLng(at); if (u.labelText !== label) u.label.setContent(label); }
        u.labelText = label;
      }
      if (p[3] >= threshold) highlighted.delete(p[0]);
      if (highlighted.has(p[0])) {
        if (!u.ring) u.ring = L.circleMarker(at, { renderer: renderer, radius: 13, weight: 3, color: '#d62828', fill: false, interactive: false, className: 'ring' }).addTo(map);
        else u.ring.setLatLng(at);
      } else if (u.ring) {
        map.removeLayer(u.ring);
        u.ring = null;
      }
    });
    dirty.clear();
    if (!fitted && state.unicorns.size > 0) {
      var bounds = L.latLngBounds([]);
      state.unicorns.forEach(function (u) { bounds.extend([u.p[1], u.p[2]]); });
      map.fitBounds(bounds.pad(0.3), { maxZoom: 16 });
      fitted = true;
    }
    if (panelDirty) { panelDirty = false; renderPanel(); }
  }

  var lastPanel = 0;
  function renderPanel() {
    document.getElementById('n-unicorns').textContent = state.unicorns.size;
    document.getElementById('n-alerts').textContent = state.alerts.length;
    document.body.dataset.unicorns = state.unicorns.size;
    document.body.dataset.alerts = state.alerts.length;
    document.body.dataset.summaries = state.summaries.length;

    var list = document.getElementById('alerts');
    list.textContent = '';
    if (state.alerts.length === 0) list.appendChild(el('li', 'none yet', 'empty'));
    state.alerts.slice(-ALERTS_SHOWN).reverse().forEach(function (a) {
      var li = el('li');
      li.appendChild(el('time', a.StatusTime.slice(11, 19)));
      li.appendChild(document.createTextNode(' ' + a.Name + ' '));
      li.appendChild(el('span', a.MagicPoints + ' MagicPoints', 'low'));
      li.dataset.name = a.Name;
      li.onclick = function () { map.panTo([a.Latitude, a.Longitude]); };
      list.appendChild(li);
    });

    var fleet = Array.from(state.unicorns.values())
      .sort(function (a, b) { return a.p[3] - b.p[3] || (a.p[0] < b.p[0] ? -1 : 1); })
      .slice(0, FLEET_SHOWN);
    var body = document.querySelector('#fleet tbody');
    body.textContent = '';
    fleet.forEach(function (u) {
      var tr = el('tr');
      tr.appendChild(el('td', u.p[0]));
      tr.appendChild(el('td', u.p[3], 'n ' + cls(u.p[3])));
      tr.appendChild(el('td', u.p[4], 'n ' + cls(u.p[4])));
      body.appendChild(tr);
    });

    var sums = document.querySelector('#summaries tbody');
    sums.textContent = '';
    state.summaries.slice(-SUMMARIES_SHOWN).reverse().forEach(function (s) {
      var tr = el('tr');
      tr.appendChild(el('td', s.Name));
      tr.appendChild(el('td', s.StatusTime.slice(11, 19)));
      tr.appendChild(el('td', s.Distance + ' m', 'n'));
      tr.appendChild(el('td', s.MinMagicPoints + '–' + s.MaxMagicPoints, 'n ' + cls(s.MinMagicPoints)));
      tr.appendChild(el('td', s.MinHealthPoints + '–' + s.MaxHealthPoints, 'n ' + cls(s.MinHealthPoints)));
      sums.appendChild(tr);
    });
    lastPanel = performance.now();
  }
  // The fleet table follows the vitals once a second.
  setInterval(function () { if (performance.now() - lastPanel > 900) { panelDirty = true; schedule(); } }, 1000);

  document.getElementById('threshold').textContent = threshold;
  var status = document.getElementById('status');
  var source = new EventSource('events');
  source.onopen = function () { status.textContent = 'live'; status.className = 'status live'; };
  source.onerror = function () { status.textContent = 'reconnecting'; status.className = 'status down'; };
  source.addEventListener('snapshot', function (e) {
    var s = JSON.parse(e.data);
    state.events++;
    s.unicorns.forEach(function (u) { position(u[0], u[1]); });
    state.summaries = s.summaries;
    state.alerts = [];
    s.alerts.forEach(alerted);
    panelDirty = true;
    schedule();
  });
  source.addEventListener('positions', function (e) {
    var now = Date.now();
    var batch = JSON.parse(e.data);
    state.events++;
    for (var i = 0; i < batch.length; i++) {
      position(batch[i]);
      if (reportUrl && batch[i][5] > 0) state.latencies.push(now - batch[i][5]);
    }
    schedule();
  });
  source.addEventListener('summaries', function (e) {
    state.events++;
    Array.prototype.push.apply(state.summaries, JSON.parse(e.data));
    if (state.summaries.length > 200) state.summaries.splice(0, state.summaries.length - 200);
    panelDirty = true;
    schedule();
  });
  source.addEventListener('alerts', function (e) {
    state.events++;
    JSON.parse(e.data).forEach(alerted);
    schedule();
  });

  // Tests and benchmarks: ?report=URL posts what the page shows once a second.
  if (reportUrl) {
    var last = performance.now();
    (function frame(t) {
      state.frames.push(t - last);
      last = t;
      requestAnimationFrame(frame);
    })(performance.now());
    setInterval(function () {
      var positions = {};
      var rings = [];
      state.unicorns.forEach(function (u, name) {
        if (u.marker) { var at = u.marker.getLatLng(); positions[name] = [at.lat, at.lng, u.p[3], u.p[4]]; }
        if (u.ring) rings.push(name);
      });
      var report = {
        time: Date.now(),
        status: status.textContent,
        events: state.events,
        unicorns: state.unicorns.size,
        positions: state.unicorns.size <= 100 ? positions : null,
        markers: Object.keys(positions).length,
        highlighted: rings,
        summaries: document.querySelectorAll('#summaries tbody tr').length,
        alerts: Array.prototype.map.call(document.querySelectorAll('#alerts li[data-name]'), function (li) { return li.dataset.name; }),
        errors: state.errors.splice(0),
        latencies: state.latencies.splice(0),
        frames: state.frames.splice(0)
      };
      fetch(reportUrl, { method: 'POST', mode: 'no-cors', body: JSON.stringify(report) }).catch(function () {});
    }, 1000);
  }
})();
