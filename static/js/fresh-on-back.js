// A page shown again from the browser's back-forward cache (Back after redeeming) is read again from the server,
// so the balance and the stock on it are never the ones from before.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) window.location.reload();
});
