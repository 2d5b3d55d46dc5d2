// The campaign form shows the seats that fit the chosen kind: per head tier for best heads, one number otherwise.
// Without this script both are shown, with a note saying which applies.
const form = document.querySelector("[data-campaign-form]");
if (form) {
  const kind = form.querySelector("select[name=kind]");
  const groups = form.querySelectorAll("[data-kinds]");
  const show = () => {
    groups.forEach((group) => {
      const kinds = group.dataset.kinds.split(" ").filter(Boolean);
      // An empty list marks the note that is only needed while both groups show.
      group.hidden = kinds.length === 0 || !kinds.includes(kind.value);
    });
  };
  kind.addEventListener("change", show);
  show();
}
