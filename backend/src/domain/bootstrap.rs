//! `keyward-server bootstrap`: the way to start automation, and the break-glass path
//! when sign-in is broken.

use entity::{customer, organization, project};
use sea_orm::TransactionTrait;

use super::{Actor, Services, access::Grant, credentials, orgs};
use crate::{
    error::{AppError, AppResult},
    token::PlainToken,
};

/// What bootstrap made or found.
#[derive(Debug)]
pub struct Bootstrapped {
    pub customer: customer::Model,
    pub organization: organization::Model,
    pub project: project::Model,
    pub token: PlainToken,
}

impl Services {
    /// Creates (or finds) the customer, makes them an instance admin, creates (or finds)
    /// their organization and project, and issues a new PAT, in one transaction.
    pub async fn bootstrap(
        &self,
        email: &str,
        org_name: Option<&str>,
        token_name: &str,
    ) -> AppResult<Bootstrapped> {
        let grant = Grant::system(Actor::system(), self.clock.now());
        let token_name = super::validate::name("token_name", token_name)?;
        let txn = self.db.begin().await?;
        let (customer, _) =
            orgs::find_or_create_local_customer(&txn, email, true, self.clock.now()).await?;
        let org_name = match org_name {
            Some(name) => super::validate::name("org", name)?,
            None => format!("{}'s organization", customer.name),
        };
        let (organization, project) =
            match orgs::find_member_org_by_name(&txn, customer.id, &org_name).await? {
                Some(org) => {
                    let project = orgs::first_project(&txn, org.id)
                        .await?
                        .ok_or(AppError::NotFound("project"))?;
                    (org, project)
                }
                None => orgs::create_org_in(&txn, &grant, customer.id, &org_name, None).await?,
            };
        let expires_at =
            self.clock.now() + credentials::PAT_DEFAULT_LIFETIME.min(self.pat_max_lifetime());
        let (_, token) = credentials::issue_pat_in(
            &txn,
            self,
            &grant,
            customer.id,
            token_name,
            expires_at,
            None,
        )
        .await?;
        txn.commit().await?;
        Ok(Bootstrapped {
            customer,
            organization,
            project,
            token,
        })
    }
}
