// A box marked data-select-all ticks every record box of the bulk form on this page; without JS each is
// ticked by hand.
for (const all of document.querySelectorAll("[data-select-all]")) {
  all.addEventListener("change", () => {
    for (const box of document.querySelectorAll("input[name=record_id][form=bulk]")) box.checked = all.checked;
  });
}
