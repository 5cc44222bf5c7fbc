// Adds an empty member row to the household form (Django formset "__prefix__" rows).
(function () {
  "use strict";
  var button = document.getElementById("add-member");
  var template = document.getElementById("member-template");
  var rows = document.getElementById("member-rows");
  var total = document.getElementById("id_members-TOTAL_FORMS");
  if (!button || !template || !rows || !total) { return; }
  button.addEventListener("click", function () {
    var index = parseInt(total.value, 10);
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var row = holder.firstElementChild;
    row.querySelector("[data-member-number]").textContent = String(index + 1);
    rows.appendChild(row);
    total.value = String(index + 1);
    var first = row.querySelector("input[type=text]");
    if (first) { first.focus(); }
  });
})();
