// shotsmith report: a filter and one playing video at a time. No network, no libraries.
(function () {
  var box = document.getElementById("only-flagged");
  if (box) {
    box.addEventListener("change", function () { document.body.classList.toggle("only-flagged", box.checked); });
  }
  document.addEventListener("play", function (event) {
    document.querySelectorAll("video").forEach(function (v) { if (v !== event.target && !v.paused) v.pause(); });
  }, true);
})();
