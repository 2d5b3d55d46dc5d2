// The wait before another code may be asked for, counted down in the page: the resend button stays disabled until
// it is over (without this script the button works, and the server says how long to wait).
const counter = document.querySelector("[data-countdown]");
const button = document.querySelector("[data-resend]");
if (counter && button) {
  let left = parseInt(counter.textContent, 10);
  button.disabled = left > 0;
  const tick = setInterval(() => {
    left -= 1;
    counter.textContent = String(Math.max(left, 0));
    if (left <= 0) {
      clearInterval(tick);
      button.disabled = false;
    }
  }, 1000);
}
