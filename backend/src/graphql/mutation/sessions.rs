//! Mutations: Dashboard sessions and the sign-ins a signed-in user approves (device code, CLI).

use async_graphql::{Context, ID, InputObject, Object};

use crate::domain::ids::parse_id;
use crate::graphql::types::{
    CliLoginApproval, DeviceAuthorization, Session, SessionContext, actor, services,
};

/// Dashboard sessions and the sign-ins a signed-in user approves (device code, CLI).
#[derive(Default)]
pub struct SessionMutation;

#[derive(InputObject)]
pub struct RevokeSessionInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct SwitchSessionInput {
    pub organization_id: ID,
    /// Default: the organization's first project.
    pub project_id: Option<ID>,
}

#[derive(InputObject)]
pub struct DeviceInput {
    /// The code the CLI shows, e.g. `BDFG-HJKL`.
    pub user_code: String,
}

#[derive(InputObject)]
pub struct ApproveCliLoginInput {
    /// The CLI's loopback address, `http://127.0.0.1:PORT/…`.
    pub redirect_uri: String,
    pub state: String,
    pub code_challenge: String,
    /// Only `S256`.
    pub code_challenge_method: String,
    /// The machine's name; the token is named after it.
    pub name: Option<String>,
}

#[Object]
impl SessionMutation {
    /// Ends one of your dashboard sessions.
    async fn revoke_session(
        &self,
        ctx: &Context<'_>,
        input: RevokeSessionInput,
    ) -> async_graphql::Result<Session> {
        let id = parse_id("input.id", &input.id)?;
        Ok(Session(
            services(ctx)?.revoke_session(actor(ctx)?, id).await?,
        ))
    }

    /// Ends every one of your dashboard sessions but the one asking (all of them when
    /// asked with a token), and says how many ended.
    async fn revoke_other_sessions(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        Ok(services(ctx)?.revoke_other_sessions(actor(ctx)?).await?)
    }

    /// Moves the current dashboard session to another organization (and project).
    async fn switch_session(
        &self,
        ctx: &Context<'_>,
        input: SwitchSessionInput,
    ) -> async_graphql::Result<SessionContext> {
        let org = parse_id("input.organizationId", &input.organization_id)?;
        let project = input
            .project_id
            .map(|p| parse_id("input.projectId", &p))
            .transpose()?;
        let (org, project) = services(ctx)?
            .switch_session(actor(ctx)?, org, project)
            .await?;
        Ok(SessionContext {
            organization_id: ID(org.to_string()),
            project_id: ID(project.to_string()),
        })
    }

    /// Lets the CLI showing this code sign in as you (device flow).
    async fn approve_device(
        &self,
        ctx: &Context<'_>,
        input: DeviceInput,
    ) -> async_graphql::Result<DeviceAuthorization> {
        let view = services(ctx)?
            .decide_device_login(actor(ctx)?, &input.user_code, true)
            .await?;
        Ok(DeviceAuthorization(view))
    }

    /// Refuses the CLI showing this code.
    async fn deny_device(
        &self,
        ctx: &Context<'_>,
        input: DeviceInput,
    ) -> async_graphql::Result<DeviceAuthorization> {
        let view = services(ctx)?
            .decide_device_login(actor(ctx)?, &input.user_code, false)
            .await?;
        Ok(DeviceAuthorization(view))
    }

    /// Lets a CLI on this machine sign in as you (loopback flow); returns where to send
    /// the browser.
    async fn approve_cli_login(
        &self,
        ctx: &Context<'_>,
        input: ApproveCliLoginInput,
    ) -> async_graphql::Result<CliLoginApproval> {
        let redirect_to = services(ctx)?
            .approve_cli_login(
                actor(ctx)?,
                &input.redirect_uri,
                &input.state,
                &input.code_challenge,
                &input.code_challenge_method,
                input.name.as_deref(),
            )
            .await?;
        Ok(CliLoginApproval { redirect_to })
    }
}
