// Forms sent once (blueprints/once.py). Each creating form carries a one-time key in <input data-once>.
//
// 1. The key stays with the page's history entry (history.state): when Back brings the form again and the
//    browser fetches the page anew, the server renders a new key, and sending the form again would count as a
//    new submission. Putting the entry's first key back makes it the same submission, which the server answers
//    with the first one's result. A form reached by a link is a new entry, with a new key.
// 2. A sent form's submit buttons are disabled, so a second tap sends nothing. This is a courtesy only: the
//    server's claim of the key is what stops a second record.

const KEY = /^[A-Za-z0-9_-]{16,64}$/;
const RETRY_AFTER_MS = 15000;

function keepKeys() {
  const inputs = [...document.querySelectorAll("input[data-once]")];
  if (!inputs.length) return;
  const state = history.state && typeof history.state === "object" ? history.state : {};
  const kept = Array.isArray(state.once) ? [...state.once] : [];
  inputs.forEach((input, i) => {
    if (typeof kept[i] === "string" && KEY.test(kept[i])) input.value = kept[i];
    else kept[i] = input.value;
  });
  history.replaceState({ ...state, once: kept }, "");
}

function submitButtons(form) {
  return [...form.querySelectorAll("button:not([type]), button[type=submit], input[type=submit]")];
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented || !form.querySelector("input[data-once]")) return;
  if (form.dataset.onceSent) {
    event.preventDefault();
    return;
  }
  form.dataset.onceSent = "1";
  // After this turn: a button disabled now would leave its own name and value out of what is sent.
  setTimeout(() => {
    for (const button of submitButtons(form)) {
      if (!button.disabled) {
        button.disabled = true;
        button.dataset.onceDisabled = "1";
      }
    }
  });
  // No answer after a while (a lost connection): the person may send it again, and the key makes that safe.
  setTimeout(() => release(form), RETRY_AFTER_MS);
});

function release(form) {
  delete form.dataset.onceSent;
  for (const button of form.querySelectorAll("[data-once-disabled]")) {
    button.disabled = false;
    delete button.dataset.onceDisabled;
  }
}

// A page restored from the back/forward cache comes back as it was left: sent, with its buttons off.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) document.querySelectorAll("form[data-once-sent]").forEach(release);
});

keepKeys();
