// The household picker of 添加人员: the list follows the area chosen above it (fetched without a reload) and narrows
// as one types a building, unit or door number. Without JS the form's 查找 button does both on the server.
const picker = document.querySelector("[data-household-picker]");
const areaSelect = document.querySelector("[data-household-area]");
if (picker && areaSelect) {
  const search = picker.querySelector("[data-household-search]");
  const select = picker.querySelector("[data-household-select]");
  const count = picker.querySelector("[data-household-count]");
  const url = areaSelect.dataset.householdArea;
  let loaded = null; // {groups, total, cut} of the area, as the server sent it for what was typed then
  let loadedFor = "";

  const squeeze = (text) => text.replace(/\s+/g, "").toLowerCase();
  // As domain/households.py: a number after other characters is a word of its own ("2号楼101": "2号楼", "101").
  const words = (text) => text.replace(/(\D)(\d)/g, "$1 $2").split(/\s+/).filter(Boolean);
  const matches = (name, text) => words(text).every((word) => squeeze(name).includes(squeeze(word)));

  function say(total, shown, cut, typed) {
    const data = count.dataset;
    const template = !total ? data.textNone : cut ? data.textCut : typed ? data.textFound : data.textCount;
    count.textContent = template.replace("{n}", total).replace("{shown}", shown);
  }

  function draw() {
    const text = search.value.trim();
    const keep = select.value;
    const first = select.options[0];
    select.replaceChildren(first);
    let total = 0;
    for (const group of loaded.groups) {
      const found = group.households.filter((h) => matches(h.name, text));
      if (!found.length) continue;
      const optgroup = document.createElement("optgroup");
      optgroup.label = group.unit;
      for (const h of found) optgroup.append(new Option(h.name, String(h.id), false, String(h.id) === keep));
      select.append(optgroup);
      total += found.length;
    }
    // A list cut by the server counts what the server found; a whole list counts what is left after typing.
    if (loaded.cut && text === loadedFor) say(loaded.total, total, true, text !== "");
    else say(total, total, false, text !== "");
  }

  async function load() {
    const text = search.value.trim();
    const query = new URLSearchParams({ area_id: areaSelect.value, q: text });
    const response = await fetch(`${url}?${query}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) return;
    loaded = await response.json();
    loadedFor = text;
    draw();
  }

  let timer = null;
  areaSelect.addEventListener("change", () => { search.value = ""; select.value = ""; load(); });
  search.addEventListener("input", () => {
    // The whole list is here: filter it at once; a list the server cut is asked for again with the words.
    if (loaded && !loaded.cut && loadedFor === "") { draw(); return; }
    clearTimeout(timer);
    timer = setTimeout(load, 250);
  });
  search.addEventListener("keydown", (event) => { if (event.key === "Enter") event.preventDefault(); });
  picker.querySelector("[data-household-narrow]").hidden = true;
  load();
}
