"""The page a password-reset email links to: a form that calls the confirm endpoint."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["auth"])

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Choose a new password</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 28rem; margin: 3rem auto">
<h1>Choose a new password</h1>
<form id="reset">
  <label>New password (12 characters or more)<br>
  <input type="password" name="password" minlength="12" required
         autocomplete="new-password"></label>
  <p><button type="submit">Set password</button></p>
</form>
<p id="outcome" role="status"></p>
<script>
document.getElementById("reset").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = new URLSearchParams(location.search).get("token") || "";
  const response = await fetch("/api/v1/auth/password-reset/confirm", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({token, newPassword: event.target.password.value}),
  });
  const outcome = document.getElementById("outcome");
  if (response.status === 204) {
    outcome.textContent = "Your password is set. Every other session has been signed out.";
  } else {
    const body = await response.json();
    outcome.textContent = body.details || body.error;
  }
});
</script>
</body>
</html>
"""


@router.get("/auth/reset-password", response_class=HTMLResponse, include_in_schema=False)
async def reset_password_page() -> HTMLResponse:
    return HTMLResponse(
        _PAGE, headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
    )
