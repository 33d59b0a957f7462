//! The environment's accounts: `root` and melange's `build` user (uid/gid
//! 1000) first, then `environment.accounts.users` and `groups` from the
//! build file (a configured name replaces a default one), validated so the
//! `/etc/passwd` and `/etc/group` lines written from them stay well-formed.

use serde::{Deserialize, Serialize};

use super::environment::BUILD_ID;
use crate::config::error::{LResult, Located};
use crate::config::Text;

/// A `/etc/passwd` account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// User name.
    pub name: String,
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// A `/etc/group` group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountGroup {
    /// Group name.
    pub name: String,
    /// gid.
    pub gid: u32,
    /// Member user names.
    pub members: Vec<String>,
}

fn number(text: &Text, what: &str) -> LResult<u32> {
    text.value.trim().parse().map_err(|_| {
        Located::new(
            text.pos,
            format!("{what} must be a number, got {:?}", text.value),
        )
    })
}

fn account_name(text: &Text, what: &str) -> LResult<String> {
    let ok = !text.value.is_empty()
        && text
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(text.value.clone())
    } else {
        Err(Located::new(
            text.pos,
            format!(
                "invalid {what} {:?}: letters, digits, `.`, `_` and `-` only",
                text.value
            ),
        ))
    }
}

pub(super) fn users(configured: &[crate::config::model::User]) -> LResult<Vec<Account>> {
    let mut out = vec![
        Account {
            name: "root".into(),
            uid: 0,
            gid: 0,
            home: "/root".into(),
            shell: "/bin/sh".into(),
        },
        Account {
            name: "build".into(),
            uid: BUILD_ID,
            gid: BUILD_ID,
            home: "/home/build".into(),
            shell: "/bin/sh".into(),
        },
    ];
    for user in configured {
        let name = account_name(&user.username, "user name")?;
        let uid = match &user.uid {
            Some(uid) => number(uid, "uid")?,
            None => {
                return Err(Located::new(
                    user.username.pos,
                    format!("user {name:?}: uid is required"),
                ))
            }
        };
        let gid = user.gid.as_ref().map(|g| number(g, "gid")).transpose()?;
        let text = |t: &Option<Text>| {
            t.as_ref()
                .map(|t| t.value.clone())
                .filter(|v| !v.is_empty())
        };
        let account = Account {
            home: text(&user.homedir).unwrap_or_else(|| format!("/home/{name}")),
            shell: text(&user.shell).unwrap_or_else(|| "/bin/sh".into()),
            gid: gid.unwrap_or(uid),
            uid,
            name,
        };
        if account.home.contains([':', '\n']) || account.shell.contains([':', '\n']) {
            return Err(Located::new(
                user.username.pos,
                format!(
                    "user {:?}: homedir and shell cannot contain ':' or newlines",
                    account.name
                ),
            ));
        }
        out.retain(|a| a.name != account.name);
        out.push(account);
    }
    Ok(out)
}

pub(super) fn groups(configured: &[crate::config::model::Group]) -> LResult<Vec<AccountGroup>> {
    let mut out = vec![
        AccountGroup {
            name: "root".into(),
            gid: 0,
            members: vec!["root".into()],
        },
        AccountGroup {
            name: "build".into(),
            gid: BUILD_ID,
            members: vec!["build".into()],
        },
    ];
    for group in configured {
        let name = account_name(&group.groupname, "group name")?;
        let gid = match &group.gid {
            Some(gid) => number(gid, "gid")?,
            None => {
                return Err(Located::new(
                    group.groupname.pos,
                    format!("group {name:?}: gid is required"),
                ))
            }
        };
        let members = group
            .members
            .iter()
            .map(|m| account_name(m, "group member"))
            .collect::<LResult<Vec<_>>>()?;
        out.retain(|g| g.name != name);
        out.push(AccountGroup { name, gid, members });
    }
    Ok(out)
}
