// A call page: a click on a turn plays the recording from the turn's start; #turn-N (on opening
// the page and on every hash change) moves the recording to turn N and shows the turn.
(function () {
  'use strict';
  var audio = document.getElementById('audio');
  var current = null;

  function seekTo(seconds) {
    if (!audio || !isFinite(seconds)) return;
    if (audio.readyState >= 1) {
      audio.currentTime = seconds;
      return;
    }
    // Before the metadata has loaded the position is only remembered; set it again once it has.
    try { audio.currentTime = seconds; } catch (e) { /* not seekable yet */ }
    audio.addEventListener('loadedmetadata', function () { audio.currentTime = seconds; }, { once: true });
  }

  function show(turn, play) {
    if (!turn) return;
    if (current) current.classList.remove('current');
    current = turn;
    turn.classList.add('current');
    var start = parseFloat(turn.getAttribute('data-start'));
    seekTo(start);
    if (play && audio && isFinite(start)) {
      var p = audio.play();
      if (p && p.catch) p.catch(function () { /* autoplay refused: the position is set */ });
    }
  }

  function fromHash(play) {
    var m = /^#(turn-\d+)$/.exec(window.location.hash);
    if (!m) return;
    var turn = document.getElementById(m[1]);
    if (turn) {
      show(turn, play);
      turn.scrollIntoView({ block: 'center' });
    }
  }

  document.addEventListener('click', function (ev) {
    var target = ev.target;
    if (!(target instanceof Element)) return;
    // a turn's time, a statement's or a script step's link: play from that turn (the click is what
    // lets the browser play); the hash change that follows only brings the turn into view
    var link = target.closest('a[href^="#turn-"]');
    if (link) {
      show(document.getElementById(link.getAttribute('href').slice(1)), true);
      return;
    }
    var turn = target.closest('.turn');
    if (!turn) return;
    var sel = window.getSelection();
    if (sel && !sel.isCollapsed) return;  // selecting text to copy is not a request to play
    if (target.closest('a')) return;
    show(turn, true);
    if (history.replaceState) history.replaceState(null, '', '#' + turn.id);
  });
  document.addEventListener('keydown', function (ev) {
    var target = ev.target;
    if ((ev.key === 'Enter' || ev.key === ' ') && target instanceof Element && target.classList.contains('turn')) {
      ev.preventDefault();
      show(target, true);
    }
  });
  window.addEventListener('hashchange', function () { fromHash(false); });
  fromHash(false);
})();
