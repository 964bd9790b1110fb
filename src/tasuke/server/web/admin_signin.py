"""Admin page for sign-in security: require a second factor for everyone, trusted browsers.

Turning the requirement on does not sign anyone out: each operator without a second factor is
sent to the enrolment pages at their next sign-in and can do nothing else until enrolled.
"""

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from tasuke.server.admin.rights import action
from tasuke.server.db.signin_store import REQUIRE_SECOND_FACTOR
from tasuke.server.state import server_state
from tasuke.server.web.pages import signed_in, templates
from tasuke.server.web.signin_flow import record_event, second_factor_required

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/admin/sign-in")
@action("admin.operators")
async def signin_admin_page(request: Request) -> Response:
    """The second-factor requirement and every operator's trusted browsers."""
    state = server_state(request)
    return templates.TemplateResponse(
        request,
        "admin_signin.html",
        {
            "required": await second_factor_required(state),
            "trusted": await state.signin.trusted_browsers(None),
        },
    )


@router.post("/admin/sign-in/require")
@action("admin.operators")
async def set_requirement(request: Request) -> Response:
    """Require (or stop requiring) a second factor for every operator."""
    state = server_state(request)
    who = signed_in(request)
    form = await request.form()
    required = form.get("required") == "1"
    await state.signin.set_setting(REQUIRE_SECOND_FACTOR, required, who.operator.username)
    await record_event(
        state,
        request,
        "settings.second_factor_required",
        who.operator,
        subject="server",
        details={"required": required},
    )
    return RedirectResponse("/admin/sign-in", status_code=303)


@router.post("/admin/trusted/{row_id}/revoke")
@action("admin.operators")
async def revoke_any_trusted(request: Request, row_id: int) -> Response:
    """Stop trusting any operator's browser."""
    state = server_state(request)
    if not await state.signin.revoke_trusted(row_id, None):
        raise HTTPException(status_code=404, detail="no such trusted browser")
    await record_event(
        state,
        request,
        "signin.browser_untrusted",
        signed_in(request).operator,
        subject=f"trusted browser {row_id}",
    )
    return RedirectResponse("/admin/sign-in", status_code=303)
