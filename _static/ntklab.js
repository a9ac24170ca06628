// ntklab course: a display equation wider than its column scrolls sideways (ntklab.css); mark
// the side where more of it is hidden, so that the reader sees there is more (a phone, a proof
// box). Classes: ntk-more-left, ntk-more-right; updated on scroll and on resize.
(function () {
  "use strict";
  var selector = 'mjx-container[display="true"]';
  function update(box) {
    var hidden = box.scrollWidth - box.clientWidth;
    box.classList.toggle("ntk-more-left", hidden > 1 && box.scrollLeft > 1);
    box.classList.toggle("ntk-more-right", hidden > 1 && box.scrollLeft < hidden - 1);
  }
  function updateAll() {
    document.querySelectorAll(selector).forEach(update);
  }
  function init() {
    document.querySelectorAll(selector).forEach(function (box) {
      box.addEventListener("scroll", function () { update(box); }, { passive: true });
    });
    updateAll();
    window.addEventListener("resize", updateAll);
  }
  window.addEventListener("load", function () {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(init);
    } else {
      init();
    }
  });
})();
