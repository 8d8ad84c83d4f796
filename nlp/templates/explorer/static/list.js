// The call list: filters and full-text search over every turn (MiniSearch), drawn from data.js.
// Every piece of text goes into the page with textContent: transcript text is never markup.
(function () {
  'use strict';
  var D = window.CALLBRIDGE_EXPLORER;
  var L = D.labels;
  var $ = function (id) { return document.getElementById(id); };
  var MAX_MATCHES = 3;

  // Russian words change their endings ("рассрочка", "в рассрочку"; "пена", "пеной") and speech
  // recognisers write "е" for "ё": turns are indexed with ё as е, and a query word of 4 letters or more
  // loses a common inflection ending and matches every word that starts with what is left. No
  // dictionary: a stem can also start an unrelated word ("пен" in "пенсия"); AND keeps phrases narrow.
  var RU_ENDING = /(?:ами|ями|ого|его|ому|ему|ыми|ими|ая|яя|ое|ее|ые|ие|ый|ий|ой|ей|ую|юю|ом|ем|ам|ям|ах|ях|ов|ев|ть|а|я|о|е|ы|и|у|ю|ь|й)$/;
  function fold(term) { return term.toLowerCase().replace(/ё/g, 'е'); }
  function stem(term) {
    var t = fold(term);
    if (t.length < 4 || !/^[а-я]+$/.test(t)) return t;
    var s = t.replace(RU_ENDING, '');
    return s.length >= 3 ? s : t.slice(0, 3);
  }

  var search = new MiniSearch({
    fields: ['text'],
    storeFields: [],
    idField: 'id',
    processTerm: fold,
    searchOptions: {
      combineWith: 'AND',
      processTerm: stem,
      // the word being typed, and every Russian stem, match as the start of a word
      prefix: function (term, i, terms) { return i === terms.length - 1 || /^[а-я]{3,}$/.test(term); }
    }
  });
  search.addAll(D.turns.map(function (t, i) { return { id: i, text: t[3] }; }));

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? String(values[k]) : m; });
  }

  // The query's words as searched (see stem), for marking them in the matching turns.
  function queryTerms(q) {
    return q.split(/[^\p{L}\p{N}]+/u).filter(function (w) { return w.length > 0; }).map(stem);
  }

  function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

  function markedText(parent, text, terms) {
    if (!terms.length) { parent.appendChild(document.createTextNode(text)); return; }
    // a stem marks the whole word it starts; е in a query marks ё in the text too
    var re = new RegExp('(' + terms.map(function (t) {
      var e = escapeRe(t).replace(/е/g, '[её]');
      return /^[а-я]{3,}$/.test(t) ? '(?<![\\p{L}\\p{N}])' + e + '[\\p{L}\\p{N}]*' : e;
    }).join('|') + ')', 'giu');
    var pos = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m[0].length === 0) { re.lastIndex++; continue; }
      if (m.index > pos) parent.appendChild(document.createTextNode(text.slice(pos, m.index)));
      parent.appendChild(el('mark', null, m[0]));
      pos = m.index + m[0].length;
    }
    if (pos < text.length) parent.appendChild(document.createTextNode(text.slice(pos)));
  }

  function filters() {
    return {
      theme: $('f-theme').value, kind: $('f-kind').value, agent: $('f-agent').value,
      lead_source: $('f-lead_source').value, campaign: $('f-campaign').value, outcome: $('f-outcome').value,
      from: $('f-from').value, to: $('f-to').value
    };
  }

  function passes(c, f) {
    if (f.theme && c.theme_keys.indexOf(f.theme) < 0) return false;
    if (f.kind && c.kinds.indexOf(f.kind) < 0) return false;
    if (f.agent && c.agent !== f.agent) return false;
    if (f.lead_source && c.lead_source !== f.lead_source) return false;
    if (f.campaign && c.campaign !== f.campaign) return false;
    if (f.outcome && c.outcome !== f.outcome) return false;
    if ((f.from || f.to) && !c.date) return false;
    if (f.from && c.date < f.from) return false;
    if (f.to && c.date > f.to) return false;
    return true;
  }

  function draw() {
    var f = filters();
    var q = $('q').value.trim();
    var hits = null;  // call index -> [turn rows], best first
    var order = null;
    if (q) {
      hits = {};
      order = [];
      search.search(q).forEach(function (r) {
        var t = D.turns[r.id];
        if (!hits[t[0]]) { hits[t[0]] = []; order.push(t[0]); }
        hits[t[0]].push(t);
      });
    }
    var idx = order || D.calls.map(function (_, i) { return i; });
    var shown = idx.filter(function (i) { return passes(D.calls[i], f); });
    var body = $('rows');
    body.textContent = '';
    var terms = queryTerms(q);
    shown.forEach(function (i) {
      var c = D.calls[i];
      var tr = el('tr', 'call');
      tr.setAttribute('data-call', c.id);
      var td = el('td');
      var a = el('a', null, c.id);
      a.href = 'calls/' + encodeURIComponent(c.page) + '.html';
      td.appendChild(a);
      if (c.review) td.appendChild(el('span', 'tag', L.review));
      tr.appendChild(td);
      [c.date, c.agent, c.lead_source, c.campaign, c.outcome_label].forEach(function (v) { tr.appendChild(el('td', null, v)); });
      tr.appendChild(el('td', 'n', c.duration));
      var th = el('td');
      c.themes.forEach(function (v) {
        th.appendChild(el('span', 'chip k-' + v[0], v[1]));
        th.appendChild(document.createTextNode(' '));
      });
      tr.appendChild(th);
      body.appendChild(tr);
      if (hits && hits[i]) {
        var mr = el('tr', 'matches');
        var md = el('td');
        md.colSpan = 8;
        md.appendChild(el('span', 'sub', L.matches + ':'));
        var ul = el('ul');
        hits[i].slice(0, MAX_MATCHES).forEach(function (t) {
          var li = el('li');
          var link = el('a', 'turnlink', (L.roles[t[2]] || t[2]) + ' · ' + (t[4] || '#' + t[1]));
          link.href = 'calls/' + encodeURIComponent(c.page) + '.html#turn-' + t[1];
          li.appendChild(link);
          li.appendChild(document.createTextNode(' '));
          var span = el('span', 'hit');
          markedText(span, t[3], terms);
          li.appendChild(span);
          ul.appendChild(li);
        });
        if (hits[i].length > MAX_MATCHES) ul.appendChild(el('li', 'sub', fmt(L.more_matches, { n: hits[i].length - MAX_MATCHES })));
        md.appendChild(ul);
        mr.appendChild(md);
        body.appendChild(mr);
      }
    });
    $('count').textContent = shown.length ? fmt(L.shown, { n: shown.length, total: D.calls.length }) : L.none_match;
  }

  ['f-theme', 'f-kind', 'f-agent', 'f-lead_source', 'f-campaign', 'f-outcome', 'f-from', 'f-to'].forEach(function (id) {
    $(id).addEventListener('change', draw);
  });
  $('q').addEventListener('input', draw);
  $('reset').addEventListener('click', function () {
    $('q').value = '';
    document.querySelectorAll('.filters select, .filters input').forEach(function (e) { e.value = ''; });
    draw();
  });
  // The search box can be filled from the address: index.html#q=words (a link to a search).
  var m = /^#q=(.*)$/.exec(window.location.hash);
  if (m) $('q').value = decodeURIComponent(m[1].replace(/\+/g, ' '));
  draw();
})();
