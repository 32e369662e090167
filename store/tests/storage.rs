//! The storage suite: every test runs against SQLite and against Postgres.
//!
//! Postgres tests use `TEST_POSTGRES_URL` (a server URL whose user may create
//! databases); each test gets a database of its own. Without that variable they
//! say so and pass, unless `REQUIRE_POSTGRES=1` (set by `scripts/test` whenever
//! Postgres is available), which turns a missing database into a failure.

use domain::access::ApiScope;
use domain::input::{NewContact, NewSession};
use domain::model::Customer;
use domain::model::{
    Actor, ContactInput, Direction, MessageStatus, Role, SessionInput, SessionStatus,
};
use domain::phone::PhoneRegion;
use domain::{Channel, DomainError, FieldError, Msisdn};
use store::scratch::ScratchDb;
use store::{
    now_ms, AuditCtx, ContactQuery, KeyGrant, Paging, Rules, SessionQuery, Store, UpsertOutcome,
};

fn ctx() -> AuditCtx {
    AuditCtx::new(Actor::ApiKey("tests".into()), Some("req-1".into()))
}

fn contact(name: &str, msisdn: &str) -> ContactInput {
    ContactInput {
        name: Some(name.into()),
        msisdn: Some(msisdn.into()),
        ..Default::default()
    }
}

/// What the edge (API, sidebar, relay) does before the store sees an input.
fn parse<'a, I, T>(input: &'a I) -> Result<T, FieldError>
where
    T: TryFrom<(&'a I, PhoneRegion), Error = FieldError>,
{
    T::try_from((input, PhoneRegion::default()))
}

fn valid<'a, I, T>(input: &'a I) -> T
where
    T: TryFrom<(&'a I, PhoneRegion), Error = FieldError>,
{
    parse(input).expect("the test's input is valid")
}

fn customer(channel: Channel, number: &str) -> Customer {
    Customer::parse(channel, "customer", number, PhoneRegion::default()).unwrap()
}

fn session_for(channel: &str, id: &str, agent: &str) -> SessionInput {
    SessionInput {
        customer_channel: Some(channel.into()),
        customer_channel_id: Some(id.into()),
        collab_agent_id: Some(agent.into()),
        ..Default::default()
    }
}

struct TestDb {
    store: Store,
    db: ScratchDb,
}

impl TestDb {
    async fn open(db: ScratchDb) -> TestDb {
        let store = Store::connect(&db.url(), Rules::default())
            .await
            .expect("open the database");
        store.migrate().await.expect("migrate");
        TestDb { store, db }
    }

    async fn sqlite() -> TestDb {
        TestDb::open(ScratchDb::sqlite("cm-storage")).await
    }

    async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(store::scratch::POSTGRES_ENV) else {
            if std::env::var("REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set");
            }
            eprintln!("SKIPPED: Postgres storage test (set TEST_POSTGRES_URL to run it)");
            return None;
        };
        let db = ScratchDb::postgres(&admin_url, "cm_test")
            .await
            .expect("create a Postgres test database");
        Some(TestDb::open(db).await)
    }

    async fn finish(self) {
        self.store.close().await;
        self.db.remove().await;
    }
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(db) = super::TestDb::postgres().await {
                        super::$name(&db.store).await;
                        db.finish().await;
                    }
                }
            )*
        }
    };
}

on_both_databases!(
    contact_lifecycle,
    same_number_two_ways_is_one_contact,
    stale_version_is_refused_with_current_values,
    search_and_pagination,
    lookups_by_msisdn_and_channel,
    latest_agent_wins,
    concurrent_session_posts_make_one_row,
    session_update_and_delete,
    rejected_input_changes_nothing,
    api_keys_verify_and_revoke,
    agents_by_email,
    csv_import_keeps_good_rows_and_names_bad_ones,
    browser_sessions_expire_and_end,
    outbox_keeps_order_per_key_retries_and_dead_letters,
    outbox_leases_expire_so_a_dead_worker_loses_nothing,
    outbox_a_finished_job_leases_its_keys_next_one,
    outbox_a_crashed_lease_holds_its_key_until_it_ends,
    outbox_a_stale_head_does_not_hold_its_key_up,
    outbox_interleaved_keys_each_run_in_order,
    outbox_rows_from_before_the_heads_are_claimed_in_order,
    outbox_concurrent_claimers_never_share_a_key,
    background_leases_have_one_holder_until_they_run_out,
    guest_tokens_are_cached_by_subject,
    media_files_keep_their_bytes_and_expire,
    transcript_views_start_at_a_takeover,
    erasure_leaves_no_trace_of_the_number,
    erasure_of_a_number_with_nothing_held_is_recorded,
    retention_prunes_old_transcripts_and_media_but_not_live_work,
    conversations_open_close_on_transfer_and_reopen_while_latest,
    conversations_take_appended_lines_once_and_only_while_open,
    message_log_records_each_try_and_finds_messages_by_every_filter,
    bot_is_inactive_after_five_failures_in_a_row_until_reactivated,
    bot_conversations_end_once,
    concurrent_creates_open_one_conversation_and_refuse_the_rest,
    intake_writes_each_event_once_and_keeps_each_keys_order,
    intake_counts_the_webhooks_waiting_for_their_write,
    intake_receipts_move_a_line_forward_only,
    last_inbound_is_read_for_a_page_of_customers_at_once,
    a_session_view_writes_its_read_mark_only_when_something_was_unread,
    group_commit_shares_transactions_and_fails_a_bad_write_alone,
);

async fn contact_lifecycle(store: &Store) {
    let created = store
        .create_contact(&ctx(), &valid(&contact("  Ann Example ", "07700 900123")))
        .await
        .unwrap();
    assert_eq!(created.name, "Ann Example");
    assert_eq!(created.msisdn.as_str(), "+447700900123");
    assert_eq!(
        created.channels.get(Channel::Whatsapp),
        Some("447700900123")
    );
    assert_eq!(created.channels.get(Channel::Sms), Some("+447700900123"));
    assert_eq!(created.version, 1);
    assert_eq!(store.contact(&created.id).await.unwrap(), created);

    let updated = store
        .update_contact(
            &ctx(),
            &created.id,
            &valid(&ContactInput {
                name: Some("Ann B. Example".into()),
                channels: Some(vec!["whatsapp".into()]),
                version: Some(1),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "Ann B. Example");
    assert_eq!(
        updated.msisdn, created.msisdn,
        "omitted fields keep their value"
    );
    assert_eq!(updated.version, 2);
    assert_eq!(updated.channels.get(Channel::Sms), None);

    store.delete_contact(&ctx(), &created.id).await.unwrap();
    assert!(matches!(
        store.contact(&created.id).await,
        Err(DomainError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_contact(&ctx(), &created.id).await,
        Err(DomainError::NotFound { .. })
    ));

    let audit = store
        .audit_entries(Some("contact"), Some(&created.id), 10)
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        ["contact.delete", "contact.update", "contact.create"]
    );
    assert!(audit
        .iter()
        .all(|a| a.actor == "api-key:tests" && a.request_id.as_deref() == Some("req-1")));
    assert_eq!(audit[1].before.as_ref().unwrap()["name"], "Ann Example");
    assert_eq!(audit[1].after.as_ref().unwrap()["name"], "Ann B. Example");
}

async fn same_number_two_ways_is_one_contact(store: &Store) {
    let first = store
        .create_contact(&ctx(), &valid(&contact("Ann", "+44 7700 900123")))
        .await
        .unwrap();
    match store
        .create_contact(&ctx(), &valid(&contact("Ann again", "447700900123")))
        .await
    {
        Err(DomainError::Duplicate {
            existing_id, field, ..
        }) => {
            assert_eq!(existing_id, first.id);
            assert_eq!(field, "msisdn");
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let second = store
        .create_contact(&ctx(), &valid(&contact("Bob", "+447700900456")))
        .await
        .unwrap();
    // Moving Bob onto Ann's number is refused too.
    let moved = store
        .update_contact(
            &ctx(),
            &second.id,
            &valid(&ContactInput {
                msisdn: Some("07700900123".into()),
                ..Default::default()
            }),
        )
        .await;
    assert!(
        matches!(moved, Err(DomainError::Duplicate { ref existing_id, .. }) if *existing_id == first.id)
    );
    assert_eq!(
        store
            .list_contacts(&ContactQuery::default())
            .await
            .unwrap()
            .total,
        2
    );
}

async fn stale_version_is_refused_with_current_values(store: &Store) {
    let c = store
        .create_contact(&ctx(), &valid(&contact("Ann", "+447700900123")))
        .await
        .unwrap();
    let rename = |name: &str, version| ContactInput {
        name: Some(name.into()),
        version: Some(version),
        ..Default::default()
    };
    store
        .update_contact(&ctx(), &c.id, &valid(&rename("Ann One", 1)))
        .await
        .unwrap();
    match store
        .update_contact(&ctx(), &c.id, &valid(&rename("Ann Two", 1)))
        .await
    {
        Err(DomainError::StaleVersion {
            current_version,
            current,
            ..
        }) => {
            assert_eq!(current_version, 2);
            assert_eq!(current["name"], "Ann One");
        }
        other => panic!("expected a stale version, got {other:?}"),
    }
    assert_eq!(store.contact(&c.id).await.unwrap().name, "Ann One");
}

async fn search_and_pagination(store: &Store) {
    for i in 0..30 {
        let name = if i % 3 == 0 {
            format!("Zed Smith {i:02}")
        } else {
            format!("Alex Jones {i:02}")
        };
        store
            .create_contact(
                &ctx(),
                &valid(&contact(&name, &format!("+4477009001{i:02}"))),
            )
            .await
            .unwrap();
    }
    let page = |q: Option<&str>, page, per_page| ContactQuery {
        q: q.map(str::to_string),
        paging: Some(Paging::new(Some(page), Some(per_page)).unwrap()),
        owner_agent_id: None,
    };
    let first = store.list_contacts(&page(None, 1, 25)).await.unwrap();
    assert_eq!((first.total, first.items.len()), (30, 25));
    assert_eq!(first.items[0].name, "Alex Jones 01", "sorted by name");
    let second = store.list_contacts(&page(None, 2, 25)).await.unwrap();
    assert_eq!(second.items.len(), 5);
    assert_eq!(second.items.last().unwrap().name, "Zed Smith 27");
    assert_eq!(second.total, 30, "the last page tells the total too");
    let past_the_end = store.list_contacts(&page(None, 3, 25)).await.unwrap();
    assert_eq!((past_the_end.total, past_the_end.items.len()), (30, 0));
    let full_last = store.list_contacts(&page(None, 3, 10)).await.unwrap();
    assert_eq!((full_last.total, full_last.items.len()), (30, 10));
    let names: Vec<String> = store
        .list_contacts(&page(None, 1, 100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.name)
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted, "every page in one order");

    let smiths = store
        .list_contacts(&page(Some("smith"), 1, 100))
        .await
        .unwrap();
    assert_eq!(smiths.total, 10, "name search ignores case");
    let by_digits = store
        .list_contacts(&page(Some("900127"), 1, 100))
        .await
        .unwrap();
    assert_eq!(by_digits.total, 1);
    assert_eq!(by_digits.items[0].name, "Zed Smith 27");
    let wildcard = store.list_contacts(&page(Some("%"), 1, 100)).await.unwrap();
    assert_eq!(wildcard.total, 0, "LIKE wildcards are literal");
}

async fn lookups_by_msisdn_and_channel(store: &Store) {
    let c = store
        .create_contact(&ctx(), &valid(&contact("Ann", "+447700900123")))
        .await
        .unwrap();
    for form in ["+447700900123", "07700 900123", "447700900123"] {
        let number = Msisdn::parse(form, PhoneRegion::default()).unwrap();
        assert_eq!(
            store.contact_by_msisdn(&number).await.unwrap().unwrap().id,
            c.id,
            "{form}"
        );
    }
    assert_eq!(
        store
            .contact_by_channel(&customer(Channel::Whatsapp, "447700900123"))
            .await
            .unwrap()
            .unwrap()
            .id,
        c.id
    );
    assert_eq!(
        store
            .contact_by_channel(&customer(Channel::Sms, "07700 900123"))
            .await
            .unwrap()
            .unwrap()
            .id,
        c.id
    );
    let unknown = Msisdn::parse("+447700900999", PhoneRegion::default()).unwrap();
    assert!(store.contact_by_msisdn(&unknown).await.unwrap().is_none());
}

async fn latest_agent_wins(store: &Store) {
    let c = store
        .create_contact(&ctx(), &valid(&contact("Ann", "+447700900123")))
        .await
        .unwrap();
    let (a, outcome) = store
        .upsert_session(
            &ctx(),
            &valid(&session_for(
                "whatsapp",
                "447700900123",
                "agent-a@example.com",
            )),
        )
        .await
        .unwrap();
    assert_eq!(outcome, UpsertOutcome::Created);
    assert_eq!(a.collab_agent_id.as_deref(), Some("agent-a@example.com"));
    assert_eq!(
        a.contact_id.as_deref(),
        Some(c.id.as_str()),
        "linked to the contact on that channel"
    );
    assert_eq!(a.status, SessionStatus::Active);

    // Agent B starts a conversation with the same customer: same session, new agent.
    let (b, outcome) = store
        .upsert_session(
            &ctx(),
            &valid(&session_for(
                "whatsapp",
                "+44 7700 900123",
                "agent-b@example.com",
            )),
        )
        .await
        .unwrap();
    assert_eq!(outcome, UpsertOutcome::Updated);
    assert_eq!(b.id, a.id);
    assert_eq!(b.collab_agent_id.as_deref(), Some("agent-b@example.com"));

    // SMS is a different channel: a different session.
    let (sms, outcome) = store
        .upsert_session(
            &ctx(),
            &valid(&session_for("sms", "447700900123", "agent-a@example.com")),
        )
        .await
        .unwrap();
    assert_eq!(outcome, UpsertOutcome::Created);
    assert_ne!(sms.id, a.id);
    assert_eq!(sms.customer_channel_id, "+447700900123");

    let found = store
        .list_sessions(&SessionQuery {
            customer_channel: Some("whatsapp".into()),
            customer_channel_id: Some("447700900123".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(
        found.items[0].collab_agent_id.as_deref(),
        Some("agent-b@example.com")
    );
    let of_a = store
        .list_sessions(&SessionQuery {
            collab_agent_id: Some("agent-a@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        of_a.items.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [sms.id.as_str()]
    );
}

async fn concurrent_session_posts_make_one_row(store: &Store) {
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .upsert_session(
                        &ctx(),
                        &valid(&session_for(
                            "sms",
                            "+447700900123",
                            &format!("agent-{i}@example.com"),
                        )),
                    )
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut created = 0;
    for t in tasks {
        let (session, outcome) = t.await.unwrap().expect("every concurrent POST succeeds");
        created += usize::from(outcome == UpsertOutcome::Created);
        ids.push(session.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "all requests answered with the same session");
    assert_eq!(created, 1, "exactly one request created it");
    let all = store.list_sessions(&SessionQuery::default()).await.unwrap();
    assert_eq!(all.total, 1);
}

async fn session_update_and_delete(store: &Store) {
    let c = store
        .create_contact(&ctx(), &valid(&contact("Ann", "+447700900123")))
        .await
        .unwrap();
    let (s, _) = store
        .upsert_session(
            &ctx(),
            &valid(&session_for(
                "whatsapp",
                "447700900123",
                "agent-a@example.com",
            )),
        )
        .await
        .unwrap();
    let updated = store
        .update_session(
            &ctx(),
            &s.id,
            &valid(&SessionInput {
                collab_guest_id: Some("guest-1".into()),
                collab_extra2: Some("note".into()),
                status: Some("ended".into()),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!(updated.collab_guest_id.as_deref(), Some("guest-1"));
    assert_eq!(updated.collab_extra2.as_deref(), Some("note"));
    assert_eq!(
        updated.collab_agent_id.as_deref(),
        Some("agent-a@example.com")
    );
    assert_eq!(updated.status, SessionStatus::Ended);
    let by_guest = store
        .list_sessions(&SessionQuery {
            collab_guest_id: Some("guest-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_guest.total, 1);

    let change_channel = SessionInput {
        customer_channel: Some("sms".into()),
        ..Default::default()
    };
    assert!(matches!(
        store.update_session(&ctx(), &s.id, &valid(&change_channel)).await,
        Err(DomainError::Invalid(f)) if f.field == "customerChannel"
    ));

    // Deleting the contact keeps the session, without a contact.
    store.delete_contact(&ctx(), &c.id).await.unwrap();
    assert_eq!(store.session(&s.id).await.unwrap().contact_id, None);

    store.delete_session(&ctx(), &s.id).await.unwrap();
    assert!(matches!(
        store.session(&s.id).await,
        Err(DomainError::NotFound { .. })
    ));
}

async fn rejected_input_changes_nothing(store: &Store) {
    let bad = [
        contact("Ann", "12"),
        contact("", "+447700900123"),
        ContactInput {
            channels: Some(vec!["fax".into()]),
            ..contact("Ann", "+447700900123")
        },
        ContactInput {
            owner_agent_id: Some("no-such-agent".into()),
            ..contact("Ann", "+447700900123")
        },
    ];
    // Refused where it comes in (the first three) or by the store (an
    // owner that does not exist): either way nothing is written.
    let fields: Vec<String> = {
        let mut out = Vec::new();
        for input in &bad {
            let created = match parse::<_, NewContact>(input) {
                Ok(new) => store.create_contact(&ctx(), &new).await,
                Err(invalid) => Err(invalid.into()),
            };
            match created {
                Err(DomainError::Invalid(f)) => out.push(f.field),
                other => panic!("expected a validation error, got {other:?}"),
            }
        }
        out
    };
    assert_eq!(fields, ["msisdn", "name", "channels", "ownerAgentId"]);
    let bad_session = session_for("pigeon", "447700900123", "a@example.com");
    assert!(matches!(
        parse::<_, NewSession>(&bad_session),
        Err(f) if f.field == "customerChannel"
    ));
    assert_eq!(
        store
            .list_contacts(&ContactQuery::default())
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        store
            .list_sessions(&SessionQuery::default())
            .await
            .unwrap()
            .total,
        0
    );
    assert!(store
        .audit_entries(None, None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn api_keys_verify_and_revoke(store: &Store) {
    let (info, key) = store
        .create_api_key(&ctx(), "connect", &KeyGrant::default())
        .await
        .unwrap();
    let verified = store
        .verify_api_key(&key)
        .await
        .unwrap()
        .expect("new key verifies");
    assert_eq!(verified.name, "connect");
    assert_eq!(verified.scopes, ApiScope::DEFAULT.to_vec());
    assert_eq!(verified.expires_at_ms, None);
    assert!(store.verify_api_key("cm_wrong").await.unwrap().is_none());
    assert!(matches!(
        store
            .create_api_key(&ctx(), "connect", &KeyGrant::default())
            .await,
        Err(DomainError::Duplicate { .. })
    ));
    let grant = KeyGrant::new(&[ApiScope::Services], Some(90)).unwrap();
    let (_, services_key) = store
        .create_api_key(&ctx(), "services-only", &grant)
        .await
        .unwrap();
    let verified = store.verify_api_key(&services_key).await.unwrap().unwrap();
    assert_eq!(verified.scopes, vec![ApiScope::Services]);
    let in_90_days = now_ms() + 90 * 86_400_000;
    assert!((verified.expires_at_ms.unwrap() - in_90_days).abs() < 60_000);
    let listed = store.list_api_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].scopes, vec![ApiScope::Services]);
    assert!(listed[1].expires_at.is_some());
    assert!(listed[0].last_used_at.is_some());
    let audit = serde_json::to_string(&store.audit_entries(None, None, 10).await.unwrap()).unwrap();
    assert!(!audit.contains(&key), "the key never reaches the audit log");
    store.revoke_api_key(&ctx(), &info.id).await.unwrap();
    assert!(store.verify_api_key(&key).await.unwrap().is_none());
}

async fn agents_by_email(store: &Store) {
    let system = AuditCtx::system();
    let a = store
        .upsert_agent(&system, "Agent.A@Example.com", Some("Agent A"), Role::Agent)
        .await
        .unwrap();
    assert_eq!(a.email, "agent.a@example.com");
    assert_eq!(
        store
            .agent_by_email("AGENT.A@example.com")
            .await
            .unwrap()
            .id,
        a.id
    );
    let promoted = store
        .upsert_agent(&system, "agent.a@example.com", None, Role::Admin)
        .await
        .unwrap();
    assert_eq!(
        (promoted.id.as_str(), promoted.role),
        (a.id.as_str(), Role::Admin)
    );
    assert!(matches!(
        store.agent_by_email("nobody@example.com").await,
        Err(DomainError::NotFound { .. })
    ));
    // Contacts can be owned by a known agent.
    let owned = store
        .create_contact(
            &ctx(),
            &valid(&ContactInput {
                owner_agent_id: Some(a.id.clone()),
                ..contact("Ann", "+447700900123")
            }),
        )
        .await
        .unwrap();
    assert_eq!(owned.owner_agent_id.as_deref(), Some(a.id.as_str()));
}

async fn csv_import_keeps_good_rows_and_names_bad_ones(store: &Store) {
    use store::csv_io::{export_all, import_rows, split_header};
    store
        .create_contact(&ctx(), &valid(&contact("Existing", "+447700900100")))
        .await
        .unwrap();
    let file = "Name,Phone\r\nAnn,+447700900101\r\n\"Doe, John\",07700 900102\r\nBad,12\r\n,+447700900103\r\nDup,+44 7700 900100\r\n";
    let (header, body) = split_header(file);
    let report = import_rows(store, &ctx(), None, header, body, 2)
        .await
        .unwrap();
    let rows: Vec<(usize, &str, bool)> = report
        .iter()
        .map(|r| (r.row, r.name.as_str(), r.error.is_none()))
        .collect();
    assert_eq!(
        rows,
        [
            (2, "Ann", true),
            (3, "Doe, John", true),
            (4, "Bad", false),
            (5, "", false),
            (6, "Dup", false)
        ]
    );
    assert!(report[2]
        .error
        .as_deref()
        .unwrap()
        .starts_with("msisdn: not a valid phone number"));
    assert_eq!(report[3].error.as_deref(), Some("name: is required"));
    assert!(report[4]
        .error
        .as_deref()
        .unwrap()
        .contains("already belongs to contact"));
    assert_eq!(
        store
            .list_contacts(&ContactQuery::default())
            .await
            .unwrap()
            .total,
        3
    );

    let csv = export_all(store).await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,name,msisdn,whatsapp,sms,ownerAgentId,createdAt,updatedAt"
    );
    assert_eq!(lines.len(), 4);
    assert!(
        csv.contains("\"Doe, John\",+447700900102,447700900102,+447700900102"),
        "{csv}"
    );

    assert!(
        import_rows(store, &ctx(), None, "first,last", "a,b", 2)
            .await
            .is_err(),
        "header must name the columns"
    );
}

async fn browser_sessions_expire_and_end(store: &Store) {
    let system = AuditCtx::system();
    let agent = store
        .upsert_agent(&system, "a@example.com", None, Role::Agent)
        .await
        .unwrap();
    store
        .set_password(&system, &agent.id, "a-long-password")
        .await
        .unwrap();
    assert_eq!(
        store
            .verify_password("A@example.com", "a-long-password")
            .await
            .unwrap()
            .id,
        agent.id
    );
    assert!(store
        .verify_password("a@example.com", "wrong-password")
        .await
        .is_err());

    let hour = 3_600_000;
    let (token, session) = store.create_web_session(&agent, hour).await.unwrap();
    assert_eq!(
        store
            .web_session(&token, hour)
            .await
            .unwrap()
            .unwrap()
            .csrf_token,
        session.csrf_token
    );
    assert!(store
        .web_session("forged-token", hour)
        .await
        .unwrap()
        .is_none());

    // Idle longer than allowed: gone for good.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(store.web_session(&token, 5).await.unwrap().is_none());
    assert!(
        store.web_session(&token, hour).await.unwrap().is_none(),
        "an expired session stays ended"
    );

    // Absolute lifetime.
    let (short, _) = store.create_web_session(&agent, 1).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    assert!(store.web_session(&short, hour).await.unwrap().is_none());

    // Sign-out and disabling end sessions.
    let (t1, _) = store.create_web_session(&agent, hour).await.unwrap();
    store.end_web_session(&t1).await.unwrap();
    assert!(store.web_session(&t1, hour).await.unwrap().is_none());
    let (t2, _) = store.create_web_session(&agent, hour).await.unwrap();
    store
        .update_agent_access(&system, None, &agent.id, None, Some(true))
        .await
        .unwrap();
    assert!(store.web_session(&t2, hour).await.unwrap().is_none());
    assert!(
        store
            .verify_password("a@example.com", "a-long-password")
            .await
            .is_err(),
        "disabled agents cannot sign in"
    );
}

fn job(key: &str, n: u32) -> store::NewJob {
    store::NewJob {
        kind: "test.call".into(),
        ordering_key: key.into(),
        idempotency_key: format!("{key}-{n}"),
        payload: serde_json::json!({ "n": n }),
    }
}

async fn outbox_keeps_order_per_key_retries_and_dead_letters(store: &Store) {
    use std::time::Duration;
    use store::{Outcome, RetryPolicy};
    let lease = Duration::from_secs(30);
    let added = store
        .enqueue_now(&[job("s1", 1), job("s1", 2), job("s2", 1), job("s1", 1)])
        .await
        .unwrap();
    assert_eq!(added, 3, "a repeated idempotency key is enqueued once");

    // One job per key at a time, the earliest first.
    let claimed = store.claim_jobs(10, lease).await.unwrap();
    let keys: Vec<(String, i64)> = claimed
        .iter()
        .map(|j| (j.idempotency_key.clone(), j.attempts))
        .collect();
    assert_eq!(keys, [("s1-1".to_string(), 1), ("s2-1".to_string(), 1)]);
    assert!(
        store.claim_jobs(10, lease).await.unwrap().is_empty(),
        "leased jobs are not handed out twice"
    );

    // s1-1 fails and must be retried before s1-2 may go.
    let policy = RetryPolicy {
        max_attempts: 2,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
    };
    let retry = Outcome::Retry {
        error: "HTTP 503".into(),
        retry_after: None,
    };
    store
        .finish_job(&claimed[0], &retry, &policy, 1.0)
        .await
        .unwrap();
    store
        .finish_job(&claimed[1], &Outcome::Done, &policy, 1.0)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = store.claim_jobs(10, lease).await.unwrap();
    assert_eq!(
        again
            .iter()
            .map(|j| j.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        ["s1-1"]
    );
    assert_eq!(again[0].attempts, 2);

    // Out of budget: a dead letter, and the next job of the key proceeds.
    store
        .finish_job(&again[0], &retry, &policy, 1.0)
        .await
        .unwrap();
    let dead = store.dead_jobs(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 503"));
    let next = store.claim_jobs(10, lease).await.unwrap();
    assert_eq!(
        next.iter()
            .map(|j| j.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        ["s1-2"]
    );
    assert_eq!(next[0].payload["n"], 2);

    // Retry-After is honoured.
    let slow = Outcome::Retry {
        error: "HTTP 429".into(),
        retry_after: Some(Duration::from_secs(60)),
    };
    store
        .finish_job(&next[0], &slow, &RetryPolicy::default(), 1.0)
        .await
        .unwrap();
    assert!(store.claim_jobs(10, lease).await.unwrap().is_empty());
    assert_eq!(store.pending_jobs().await.unwrap(), 1);

    let fatal = Outcome::Fatal {
        error: "HTTP 400: bad request".into(),
    };
    store.enqueue_now(&[job("s3", 1)]).await.unwrap();
    let j = store.claim_jobs(10, lease).await.unwrap();
    store
        .finish_job(&j[0], &fatal, &RetryPolicy::default(), 1.0)
        .await
        .unwrap();
    assert_eq!(
        store.dead_jobs(10).await.unwrap().len(),
        2,
        "fatal errors are not retried"
    );
}

async fn outbox_leases_expire_so_a_dead_worker_loses_nothing(store: &Store) {
    use std::time::Duration;
    store.enqueue_now(&[job("s1", 1)]).await.unwrap();
    let first = store
        .claim_jobs(10, Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // The worker dies without reporting; after the lease the job is handed out again.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let second = store.claim_jobs(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].idempotency_key, first[0].idempotency_key);
    assert_eq!(second[0].attempts, 2);
}

async fn outbox_a_finished_job_leases_its_keys_next_one(store: &Store) {
    use std::time::Duration;
    use store::AttemptNote;
    let lease = Duration::from_secs(30);
    store
        .enqueue_now(&[job("s1", 1), job("s2", 1)])
        .await
        .unwrap();
    let first = store.claim_jobs(10, lease).await.unwrap();
    assert_eq!(first.len(), 2);
    let (s1, s2) = (&first[0], &first[1]);

    // s1-1 ends by enqueueing s1-2 and s1-3: s1-2 is leased in the same transaction.
    let mut tx = store.begin_write().await.unwrap();
    Store::enqueue(&mut tx, &[job("s1", 2), job("s1", 3)])
        .await
        .unwrap();
    let next = Store::complete_job_and_lease_next(&mut tx, s1.id, &AttemptNote::default(), lease)
        .await
        .unwrap()
        .expect("the key's next job is due");
    tx.commit().await.unwrap();
    assert_eq!((next.idempotency_key.as_str(), next.attempts), ("s1-2", 1));
    assert_eq!(next.payload["n"], 2);
    assert!(
        store.claim_jobs(10, lease).await.unwrap().is_empty(),
        "a leased job is not claimed again, nor the job behind it"
    );

    // The last of a key leases nothing and frees the key.
    let mut tx = store.begin_write().await.unwrap();
    let third =
        Store::complete_job_and_lease_next(&mut tx, next.id, &AttemptNote::default(), lease)
            .await
            .unwrap()
            .expect("s1-3 is due");
    assert!(
        Store::complete_job_and_lease_next(&mut tx, third.id, &AttemptNote::default(), lease)
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
    assert_eq!(third.idempotency_key, "s1-3");

    // Only the key's own next job is leased: another key's jobs (s2's, whose
    // head waits for a retry) are left to claims, when due.
    let mut tx = store.begin_write().await.unwrap();
    Store::enqueue(&mut tx, &[job("s2", 2)]).await.unwrap();
    tx.commit().await.unwrap();
    store
        .finish_job(
            s2,
            &store::Outcome::Retry {
                error: "HTTP 503".into(),
                retry_after: Some(Duration::from_secs(60)),
            },
            &store::RetryPolicy::default(),
            1.0,
        )
        .await
        .unwrap();
    store.enqueue_now(&[job("s1", 4)]).await.unwrap();
    let (claimed, keys) = claim_keys(store, lease).await;
    assert_eq!(
        keys,
        ["s1-4"],
        "s2 waits for s2-1's retry, behind which is s2-2"
    );
    let mut tx = store.begin_write().await.unwrap();
    assert!(Store::complete_job_and_lease_next(
        &mut tx,
        claimed[0].id,
        &AttemptNote::default(),
        lease
    )
    .await
    .unwrap()
    .is_none());
    tx.commit().await.unwrap();
    assert_eq!(store.pending_jobs().await.unwrap(), 2);
}

/// Claims everything claimable, by idempotency key.
async fn claim_keys(store: &Store, lease: std::time::Duration) -> (Vec<store::Job>, Vec<String>) {
    let jobs = store.claim_jobs(100, lease).await.unwrap();
    let keys = jobs.iter().map(|j| j.idempotency_key.clone()).collect();
    (jobs, keys)
}

/// A head whose job is no longer pending (a row edited by hand) does not
/// hold its key up: the claim that finds it points the head at the key's
/// next pending job, which the next claim hands out; a key with none left
/// loses its head.
async fn outbox_a_stale_head_does_not_hold_its_key_up(store: &Store) {
    use sqlx::Row;
    use std::time::Duration;
    let lease = Duration::from_secs(30);
    store
        .enqueue_now(&[job("s1", 1), job("s1", 2), job("s2", 1)])
        .await
        .unwrap();
    let mut tx = store.begin_write().await.unwrap();
    sqlx::query("UPDATE outbox SET status = 'done' WHERE idempotency_key IN ('s1-1', 's2-1')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let first = store.claim_jobs(10, lease).await.unwrap();
    assert!(first.is_empty(), "done jobs are not handed out: {first:?}");
    let next = store.claim_jobs(10, lease).await.unwrap();
    let keys: Vec<&str> = next.iter().map(|j| j.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["s1-2"], "the key's next job follows at once");
    let mut tx = store.begin_write().await.unwrap();
    let heads: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM outbox_heads WHERE ordering_key = 's2'")
            .fetch_one(&mut *tx)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(heads, 0, "a key with nothing pending has no head");
}

async fn outbox_a_crashed_lease_holds_its_key_until_it_ends(store: &Store) {
    use std::time::Duration;
    use store::{Outcome, RetryPolicy};
    store
        .enqueue_now(&[job("s1", 1), job("s1", 2), job("s2", 1)])
        .await
        .unwrap();
    let (first, keys) = claim_keys(store, Duration::from_secs(1)).await;
    assert_eq!(keys, ["s1-1", "s2-1"]);
    store
        .finish_job(&first[1], &Outcome::Done, &RetryPolicy::default(), 1.0)
        .await
        .unwrap();
    // s1-1's worker died: while its lease runs nothing of s1 goes, not even s1-2.
    assert!(claim_keys(store, Duration::from_secs(30))
        .await
        .1
        .is_empty());
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (again, keys) = claim_keys(store, Duration::from_secs(30)).await;
    assert_eq!(keys, ["s1-1"], "the lease ended: the same job again, first");
    assert_eq!(again[0].attempts, 2);
    // A renewed lease keeps the job its worker's past the first lease's end.
    store.enqueue_now(&[job("s3", 1)]).await.unwrap();
    let (s3, _) = claim_keys(store, Duration::from_millis(100)).await;
    store
        .extend_lease(s3[0].id, Duration::from_secs(30))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        claim_keys(store, Duration::from_secs(30))
            .await
            .1
            .is_empty(),
        "a renewed lease is not taken over"
    );
    store
        .finish_job(&again[0], &Outcome::Done, &RetryPolicy::default(), 1.0)
        .await
        .unwrap();
    assert_eq!(claim_keys(store, Duration::from_secs(30)).await.1, ["s1-2"]);
}

async fn outbox_interleaved_keys_each_run_in_order(store: &Store) {
    use std::collections::HashMap;
    use std::time::Duration;
    use store::{Outcome, RetryPolicy};
    let lease = Duration::from_secs(30);
    // Two conversations written turn about, one job a transaction.
    for n in 1..=4 {
        store.enqueue_now(&[job("a", n)]).await.unwrap();
        store.enqueue_now(&[job("b", n)]).await.unwrap();
    }
    let policy = RetryPolicy {
        max_attempts: 2,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
    };
    let retry = Outcome::Retry {
        error: "HTTP 503".into(),
        retry_after: None,
    };
    let mut ran: HashMap<String, Vec<String>> = HashMap::new();
    let mut rounds = 0;
    while store.pending_jobs().await.unwrap() > 0 {
        rounds += 1;
        assert!(rounds < 50, "the outbox does not drain: {ran:?}");
        let (jobs, _) = claim_keys(store, lease).await;
        let mut keys: Vec<&str> = jobs.iter().map(|j| j.ordering_key.as_str()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), jobs.len(), "one job per key at a time");
        for j in &jobs {
            ran.entry(j.ordering_key.clone())
                .or_default()
                .push(j.idempotency_key.clone());
            match (j.idempotency_key.as_str(), j.attempts) {
                // a-2 fails once, then goes; b-2 fails for good (dead).
                ("a-2", 1) | ("b-2", _) => store.finish_job(j, &retry, &policy, 1.0).await.unwrap(),
                // a-3 is done the way a job that only writes is: its writes,
                // a job it causes in its own key, and its completion commit
                // together; the new job runs after a-4.
                ("a-3", _) => {
                    let mut tx = store.begin_write().await.unwrap();
                    Store::enqueue(&mut tx, &[job("a", 5)]).await.unwrap();
                    Store::complete_job(&mut tx, j.id).await.unwrap();
                    tx.commit().await.unwrap();
                }
                _ => store
                    .finish_job(j, &Outcome::Done, &policy, 1.0)
                    .await
                    .unwrap(),
            }
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    assert_eq!(ran["a"], ["a-1", "a-2", "a-2", "a-3", "a-4", "a-5"]);
    assert_eq!(ran["b"], ["b-1", "b-2", "b-2", "b-3", "b-4"]);
    let dead: Vec<String> = store
        .dead_jobs(10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.ordering_key)
        .collect();
    assert_eq!(dead, ["b"]);
}

async fn outbox_rows_from_before_the_heads_are_claimed_in_order(store: &Store) {
    use std::time::Duration;
    use store::{Outcome, RetryPolicy};
    // A database as it was before migration 0010, with rows the earlier code
    // wrote: done, dead, retried, leased and waiting ones.
    let mut tx = store.begin_write().await.unwrap();
    for sql in [
        "DROP TABLE outbox_heads",
        "DELETE FROM _sqlx_migrations WHERE version = 10",
    ] {
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
    }
    let now = now_ms();
    let rows: [(&str, &str, &str, i64, Option<i64>); 9] = [
        ("k1-1", "k1", "done", now - 5_000, None),
        ("k1-2", "k1", "pending", now - 1_000, None),
        ("k1-3", "k1", "pending", now - 2_000, None),
        ("k2-1", "k2", "pending", now - 1_000, Some(now + 1_500)),
        ("k2-2", "k2", "pending", now - 1_000, None),
        ("k3-1", "k3", "dead", now - 5_000, None),
        ("k3-2", "k3", "pending", now + 3_600_000, None),
        ("k3-3", "k3", "pending", now - 1_000, None),
        ("k4-1", "k4", "done", now - 5_000, None),
    ];
    for (idem, key, status, next, locked) in rows {
        sqlx::query(
            "INSERT INTO outbox (kind, ordering_key, idempotency_key, payload, status, attempts,
                                 next_attempt_at, locked_until, created_at, updated_at)
             VALUES ('test.call', $1, $2, '{}', $3, 1, $4, $5, $6, $6)",
        )
        .bind(key)
        .bind(idem)
        .bind(status)
        .bind(next)
        .bind(locked)
        .bind(now - 10_000)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    store
        .migrate()
        .await
        .expect("migration 0010 runs on the old rows");

    let lease = Duration::from_secs(30);
    let done = |j: store::Job| async move {
        store
            .finish_job(&j, &Outcome::Done, &RetryPolicy::default(), 1.0)
            .await
            .unwrap()
    };
    // k1's earliest pending row, though k1-3 was due sooner; k2's is leased,
    // k3's waits for its retry: nothing else of theirs may go.
    let (jobs, keys) = claim_keys(store, lease).await;
    assert_eq!(keys, ["k1-2"]);
    assert_eq!(jobs[0].attempts, 2);
    for j in jobs {
        done(j).await;
    }
    assert_eq!(claim_keys(store, lease).await.1, ["k1-3"]);
    // The old lease ends: the leased row again, then the next.
    tokio::time::sleep(Duration::from_millis((now + 1_600 - now_ms()).max(0) as u64)).await;
    let (jobs, keys) = claim_keys(store, lease).await;
    assert_eq!(keys, ["k2-1"]);
    for j in jobs {
        done(j).await;
    }
    assert_eq!(claim_keys(store, lease).await.1, ["k2-2"]);
    assert_eq!(store.pending_jobs().await.unwrap(), 4);
    // New jobs join the keys behind the old rows.
    store
        .enqueue_now(&[job("k3", 9), job("k4", 9)])
        .await
        .unwrap();
    assert_eq!(claim_keys(store, lease).await.1, ["k4-9"]);
}

async fn outbox_concurrent_claimers_never_share_a_key(store: &Store) {
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    use store::{Outcome, RetryPolicy};
    const KEYS: u32 = 12;
    const PER_KEY: u32 = 15;
    // Jobs keep arriving while four workers drain: two writers, each with
    // keys of its own, so each key's order is the order its writer wrote.
    let mut writers = Vec::new();
    for w in 0..2u32 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..PER_KEY {
                for k in (w..KEYS).step_by(2) {
                    store
                        .enqueue_now(&[job(&format!("k{k}"), n)])
                        .await
                        .unwrap();
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let writing = Arc::new(AtomicUsize::new(writers.len()));
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let ran: Arc<Mutex<HashMap<String, Vec<u32>>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (store, running, ran, writing) =
            (store.clone(), running.clone(), ran.clone(), writing.clone());
        workers.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                assert!(Instant::now() < deadline, "the outbox does not drain");
                let jobs = store.claim_jobs(4, Duration::from_secs(60)).await.unwrap();
                if jobs.is_empty() {
                    if writing.load(Ordering::SeqCst) == 0
                        && store.pending_jobs().await.unwrap() == 0
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                for j in &jobs {
                    assert!(
                        running.lock().unwrap().insert(j.ordering_key.clone()),
                        "{} was claimed while its key had a job running",
                        j.idempotency_key
                    );
                    assert_eq!(j.attempts, 1, "{} was claimed twice", j.idempotency_key);
                    let n = j.payload["n"].as_u64().unwrap() as u32;
                    ran.lock()
                        .unwrap()
                        .entry(j.ordering_key.clone())
                        .or_default()
                        .push(n);
                }
                tokio::task::yield_now().await;
                for j in &jobs {
                    running.lock().unwrap().remove(&j.ordering_key);
                    store
                        .finish_job(j, &Outcome::Done, &RetryPolicy::default(), 1.0)
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
        writing.fetch_sub(1, Ordering::SeqCst);
    }
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(
        store.pending_jobs().await.unwrap(),
        0,
        "no key was left without a head"
    );
    let ran = ran.lock().unwrap();
    let in_order: Vec<u32> = (0..PER_KEY).collect();
    for k in 0..KEYS {
        assert_eq!(ran[&format!("k{k}")], in_order, "key k{k}");
    }
}

async fn guest_tokens_are_cached_by_subject(store: &Store) {
    use domain::model::AccessToken;
    let cipher = store::token_cipher::TokenCipher::generate();
    let now = store::now_ms();
    let token = |t: &str, expires_at_ms: i64| AccessToken {
        token: t.into(),
        expires_at_ms,
    };
    assert_eq!(
        store
            .cached_guest_token(&cipher, "sms_447700900123")
            .await
            .unwrap(),
        None
    );
    store
        .cache_guest_token(
            &cipher,
            "sms_447700900123",
            &token("first", now + 3_600_000),
        )
        .await
        .unwrap();
    store
        .cache_guest_token(
            &cipher,
            "whatsapp_447700900123",
            &token("other", now + 3_600_000),
        )
        .await
        .unwrap();
    // The last write wins.
    store
        .cache_guest_token(
            &cipher,
            "sms_447700900123",
            &token("second", now + 7_200_000),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .cached_guest_token(&cipher, "sms_447700900123")
            .await
            .unwrap(),
        Some(token("second", now + 7_200_000))
    );
    assert_eq!(
        store
            .cached_guest_token(&cipher, "whatsapp_447700900123")
            .await
            .unwrap()
            .unwrap()
            .token,
        "other"
    );
    // Another key (e.g. after the sandbox restarted) reads no token at all.
    let other_key = store::token_cipher::TokenCipher::generate();
    assert_eq!(
        store
            .cached_guest_token(&other_key, "sms_447700900123")
            .await
            .unwrap(),
        None
    );
    // Expired tokens are forgotten on the next write.
    store
        .cache_guest_token(&cipher, "whatsapp_447700900123", &token("old", now - 1))
        .await
        .unwrap();
    assert_eq!(
        store
            .cached_guest_token(&cipher, "whatsapp_447700900123")
            .await
            .unwrap(),
        None
    );
}

async fn media_files_keep_their_bytes_and_expire(store: &Store) {
    use store::MediaFileInfo;
    let now = store::now_ms();
    let info = |id: &str, expires_at_ms: i64| MediaFileInfo {
        id: id.into(),
        filename: "Résumé \"final\".pdf".into(),
        mime_type: "application/pdf".into(),
        size: 512,
        created_at_ms: now,
        expires_at_ms,
    };
    // Every byte value, twice: binary-safe on both databases.
    let bytes: Vec<u8> = (0..512u32).map(|i| (i % 256) as u8).collect();
    let live = info("live-file-id-000000000000", now + 60_000);
    store.insert_media_file(&live, &bytes).await.unwrap();
    let stale = info("stale-file-id-00000000000", now - 1);
    store.insert_media_file(&stale, b"old").await.unwrap();

    let file = store.media_file(&live.id, now).await.unwrap().unwrap();
    assert_eq!(file.info, live);
    assert_eq!(file.content, bytes);
    assert_eq!(
        store.media_file_info(&live.id, now).await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(store.media_file("no-such-id", now).await.unwrap(), None);

    // An expired file is not served, and reading it deletes it.
    assert_eq!(store.media_file(&stale.id, now).await.unwrap(), None);
    assert_eq!(store.delete_expired_media(now).await.unwrap(), 0);
    // Later the live one expires too; sweeping deletes what has expired.
    assert_eq!(
        store.media_file_info(&live.id, now + 60_000).await.unwrap(),
        None
    );
    let again = info("again-file-id-00000000000", now + 60_000);
    store.insert_media_file(&again, b"x").await.unwrap();
    store
        .insert_media_file(&info("swept-file-id-00000000000", now + 1), b"y")
        .await
        .unwrap();
    assert_eq!(store.delete_expired_media(now + 2).await.unwrap(), 1);
    assert!(store.media_file(&again.id, now).await.unwrap().is_some());

    // A file larger than a chunk is stored in chunks, read back in order.
    let big_bytes: Vec<u8> = (0..(store::MEDIA_CHUNK_BYTES * 2 + 1000))
        .map(|i| (i % 251) as u8)
        .collect();
    let big = MediaFileInfo {
        size: big_bytes.len() as i64,
        ..info("big-file-id-0000000000000", now + 60_000)
    };
    store.insert_media_file(&big, &big_bytes).await.unwrap();
    assert_eq!(
        store
            .media_chunk(&big.id, 2)
            .await
            .unwrap()
            .map(|c| c.len()),
        Some(1000)
    );
    assert_eq!(store.media_chunk(&big.id, 3).await.unwrap(), None);
    assert_eq!(
        store
            .media_file(&big.id, now)
            .await
            .unwrap()
            .unwrap()
            .content,
        big_bytes
    );
    // Chunks of a download that never finished are swept after a day.
    store
        .insert_media_chunk("orphan-file-id-0000000000", 0, b"partial", now)
        .await
        .unwrap();
    let (chunks, _) = store.media_chunks_stored().await.unwrap();
    store.delete_expired_media(now).await.unwrap();
    assert_eq!(store.media_chunks_stored().await.unwrap().0, chunks);
    store
        .delete_expired_media(now + 25 * 3600 * 1000)
        .await
        .unwrap();
    assert_eq!(store.media_chunks_stored().await.unwrap(), (0, 0));
}

async fn transcript_views_start_at_a_takeover(store: &Store) {
    use std::time::Duration;
    use store::NewMessage;
    let system = AuditCtx::system();
    let mut agents = Vec::new();
    for email in [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "boss@example.com",
    ] {
        let role = if email.starts_with("boss") {
            Role::Admin
        } else {
            Role::Agent
        };
        agents.push(
            store
                .upsert_agent(&system, email, None, role)
                .await
                .unwrap(),
        );
    }
    let (a, b, c, boss) = (&agents[0], &agents[1], &agents[2], &agents[3]);
    let line = |session_id: String, body: &'static str| async move {
        let mut tx = store.begin_write().await.unwrap();
        Store::add_message(
            &mut tx,
            &NewMessage::new(
                &session_id,
                Direction::Inbound,
                Channel::Sms,
                body,
                MessageStatus::Received,
            ),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let route = |agent: Option<&'static str>| {
        let input = SessionInput {
            customer_channel: Some("sms".into()),
            customer_channel_id: Some("+447700900123".into()),
            collab_agent_id: agent.map(str::to_string),
            ..Default::default()
        };
        async move {
            store
                .upsert_session(&ctx(), &valid(&input))
                .await
                .unwrap()
                .0
        }
    };
    let seen = |viewer: domain::model::Agent| async move {
        let session = store
            .session_of(&customer(Channel::Sms, "+447700900123"))
            .await
            .unwrap()
            .unwrap();
        store
            .transcript_for(&viewer, &session)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect::<Vec<_>>()
    };

    // Onboarding without an agent; the first agent sees it all.
    let s = route(None).await;
    line(s.id.clone(), "my name is Ann").await;
    route(Some("a@example.com")).await;
    line(s.id.clone(), "to A").await;
    assert_eq!(seen(a.clone()).await, ["my name is Ann", "to A"]);

    // B takes over (named by Webex person id this time, as sessions may be).
    let mut tx = store.begin_write().await.unwrap();
    sqlx::query("UPDATE agents SET webex_person_id = 'person-b' WHERE id = $1")
        .bind(&b.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let b = &store.agent_by_id(&b.id).await.unwrap();
    route(Some("person-b")).await;
    line(s.id.clone(), "to B").await;
    assert_eq!(seen(b.clone()).await, ["to B"]);
    assert!(seen(a.clone()).await.is_empty(), "A no longer sees it");
    // B again, by email: the same agent, no new start.
    route(Some("b@example.com")).await;
    assert_eq!(seen(b.clone()).await, ["to B"]);

    // Unassigned, then C: C starts at their arrival, not at the beginning.
    route(None).await;
    line(s.id.clone(), "nobody's").await;
    route(Some("c@example.com")).await;
    line(s.id.clone(), "to C").await;
    assert_eq!(seen(c.clone()).await, ["to C"]);
    assert_eq!(
        seen(boss.clone()).await,
        ["my name is Ann", "to A", "to B", "nobody's", "to C"]
    );

    let takeovers: Vec<_> = store
        .audit_entries(Some("session"), Some(&s.id), 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "session.takeover")
        .map(|e| {
            (
                e.before.unwrap()["agent"].clone(),
                e.after.unwrap()["agent"].clone(),
            )
        })
        .collect();
    assert_eq!(
        takeovers,
        [(
            serde_json::json!("a@example.com"),
            serde_json::json!("person-b")
        )]
    );
}

async fn background_leases_have_one_holder_until_they_run_out(store: &Store) {
    use std::time::Duration;
    let long = Duration::from_secs(60);
    // Replicas ask at once: exactly one wins.
    let asks = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .take_lease("prune", &format!("replica-{i}"), long)
                .await
        })
    });
    let mut winners = 0;
    for ask in asks {
        winners += usize::from(ask.await.unwrap().unwrap());
    }
    assert_eq!(winners, 1, "one holder at a time");

    // The holder renews; another replica is refused; another task is free.
    assert!(store.take_lease("check", "a", long).await.unwrap());
    assert!(
        store.take_lease("check", "a", long).await.unwrap(),
        "renewed"
    );
    assert!(!store.take_lease("check", "b", long).await.unwrap());
    // Given up (a graceful stop): the next asker gets it at once.
    store.release_lease("check", "a").await.unwrap();
    assert!(store.take_lease("check", "b", long).await.unwrap());
    // A holder that stops renewing (it died) loses it when it runs out.
    assert!(store
        .take_lease("short", "c", Duration::from_millis(50))
        .await
        .unwrap());
    assert!(!store.take_lease("short", "d", long).await.unwrap());
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(
        store.take_lease("short", "d", long).await.unwrap(),
        "taken over"
    );
    assert!(!store.take_lease("short", "c", long).await.unwrap());

    // A report is kept for every replica to read, apart from who holds the lease.
    assert_eq!(store.task_report("check").await.unwrap(), None);
    let report = serde_json::json!({"active": 2});
    store.save_task_report("check", &report).await.unwrap();
    store
        .save_task_report("never-leased", &report)
        .await
        .unwrap();
    assert_eq!(
        store.task_report("check").await.unwrap().unwrap().report,
        report
    );
    assert_eq!(
        store
            .task_report("never-leased")
            .await
            .unwrap()
            .unwrap()
            .report,
        report
    );
    assert!(
        !store.take_lease("check", "e", long).await.unwrap(),
        "reporting keeps the holder"
    );
}

/// One customer with data in every table that can hold it: a contact (then
/// renamed, for an audit row with before and after), a session per channel,
/// transcript lines with a cached file, guest tokens, relay jobs (one done,
/// one pending), webhook dedup records, a start attempt, audit events.
/// Returns the contact's id.
async fn seed_customer(store: &Store, number: &str, name: &str, tag: &str) -> String {
    use store::{Attachment, MediaFileInfo, NewMessage};
    let msisdn = Msisdn::parse(number, PhoneRegion::default()).unwrap();
    let digits = msisdn.digits().to_string();
    let created = store
        .create_contact(&ctx(), &valid(&contact("Temp name", number)))
        .await
        .unwrap();
    let renamed = store
        .update_contact(
            &ctx(),
            &created.id,
            &valid(&ContactInput {
                name: Some(name.into()),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    let agent = store
        .upsert_agent(&AuditCtx::system(), "agent@example.com", None, Role::Agent)
        .await
        .unwrap();
    let now = now_ms();
    let media_id = format!("media{tag}000000000000000");
    store
        .insert_media_file(
            &MediaFileInfo {
                id: media_id.clone(),
                filename: "photo.jpg".into(),
                mime_type: "image/jpeg".into(),
                size: 5,
                created_at_ms: now,
                expires_at_ms: now + 3_600_000,
            },
            b"bytes",
        )
        .await
        .unwrap();
    let cipher = store::token_cipher::TokenCipher::generate();
    for (channel, id) in [
        ("sms", msisdn.as_str().to_string()),
        ("whatsapp", digits.clone()),
    ] {
        let mut input = session_for(channel, &id, "agent@example.com");
        input.collab_guest_id = Some(format!("guest-{tag}-{channel}"));
        input.contact_id = Some(renamed.id.clone());
        let (session, _) = store.upsert_session(&ctx(), &valid(&input)).await.unwrap();
        let subject = format!("{channel}_{digits}");
        let mut tx = store.begin_write().await.unwrap();
        sqlx::query("UPDATE sessions SET onboarding_name = $1 WHERE id = $2")
            .bind(name)
            .bind(&session.id)
            .execute(&mut *tx)
            .await
            .unwrap();
        let inbound = NewMessage::new(
            &session.id,
            Direction::Inbound,
            channel.parse().unwrap(),
            &format!("hello, {name} here, call me on {}", msisdn.for_people()),
            MessageStatus::Received,
        )
        .from_provider("connect", &format!("tx-{tag}-{channel}"))
        .with_attachment(Some(Attachment {
            url: format!("https://cm.example/media/{media_id}/photo.jpg"),
            mime: Some("image/jpeg".into()),
            name: Some("photo.jpg".into()),
        }));
        Store::add_message(&mut tx, &inbound).await.unwrap();
        Store::accept_event(&mut tx, "connect", &format!("tx-{tag}-{channel}"))
            .await
            .unwrap();
        Store::accept_event(
            &mut tx,
            "connect-receipt",
            &format!("rx-{tag}:{}:delivered", inbound.id),
        )
        .await
        .unwrap();
        for n in 0..2 {
            Store::enqueue(
                &mut tx,
                &[store::NewJob {
                    kind: "customer_message".into(),
                    ordering_key: subject.clone(),
                    idempotency_key: format!("connect:tx-{tag}-{channel}-{n}"),
                    payload: serde_json::json!({ "customer": { "id": id }, "text": format!("from {name}") }),
                }],
            )
            .await
            .unwrap();
        }
        // The customer replied STOP on this channel; an agent read the session.
        let channel_named: Channel = channel.parse().unwrap();
        Store::change_consent(
            &mut tx,
            &ctx(),
            channel_named,
            &digits,
            domain::consent::ConsentChange::OptOut,
            "keyword STOP",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        store
            .mark_session_read("agent-reader", &session.id)
            .await
            .unwrap();
        store
            .cache_guest_token(
                &cipher,
                &subject,
                &domain::model::AccessToken {
                    token: "secret".into(),
                    expires_at_ms: now + 3_600_000,
                },
            )
            .await
            .unwrap();
    }
    // The first job of each conversation is delivered; the second waits.
    for job in store
        .claim_jobs(10, std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .into_iter()
    {
        if job.ordering_key.ends_with(&digits) {
            // The try is logged with its line and an answer naming the number.
            let channel = job.ordering_key.split('_').next().unwrap().to_string();
            let note = store::AttemptNote {
                message: Some(store::MessageRef::Provider {
                    provider: "connect",
                    id: format!("tx-{tag}-{channel}"),
                }),
                answer: Some(format!("posted for {}", msisdn.for_people())),
                http_status: None,
            };
            store
                .finish_job_noted(&job, &store::Outcome::Done, &Default::default(), 0.5, &note)
                .await
                .unwrap();
        } else {
            // Another customer's: handed back at once.
            store
                .extend_lease(job.id, std::time::Duration::ZERO)
                .await
                .unwrap();
        }
    }
    store
        .begin_start_attempt(&format!("start-{tag}"), &agent.id, &renamed.id, "sms")
        .await
        .unwrap();
    store
        .record_event(
            &ctx(),
            "conversation.start",
            "contact",
            &renamed.id,
            &serde_json::json!({ "payload": { "channelId": digits, "contactName": name } }),
        )
        .await
        .unwrap();
    // A note about something else that mentions the number.
    store
        .record_event(
            &ctx(),
            "note",
            "misc",
            &format!("note-{tag}"),
            &serde_json::json!({ "text": format!("{} asked for a call back", msisdn.for_people()) }),
        )
        .await
        .unwrap();
    renamed.id
}

/// Every table's row count.
async fn row_counts(store: &Store) -> Vec<(String, i64)> {
    use sqlx::Row;
    let mut tx = store.begin_write().await.unwrap();
    let sql = match store.backend() {
        store::Backend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' ORDER BY name"
        }
        store::Backend::Postgres => {
            "SELECT table_name::text AS t FROM information_schema.tables
              WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    };
    let tables: Vec<String> = sqlx::query(sql)
        .fetch_all(&mut *tx)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("t"))
        .collect();
    let mut counts = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap()
            .get("n");
        counts.push((table, n));
    }
    tx.rollback().await.unwrap();
    counts
}

/// Where `needle` is in any text column of any table: `table.column` names.
async fn text_columns_holding(store: &Store, needles: &[&str]) -> Vec<String> {
    use sqlx::Row;
    let mut tx = store.begin_write().await.unwrap();
    let columns: Vec<(String, String)> = match store.backend() {
        store::Backend::Sqlite => {
            let tables: Vec<String> =
                sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .fetch_all(&mut *tx)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get("name"))
                    .collect();
            let mut columns = Vec::new();
            for table in tables {
                for col in sqlx::query(&format!(
                    "SELECT name, type FROM pragma_table_info('{table}')"
                ))
                .fetch_all(&mut *tx)
                .await
                .unwrap()
                {
                    if col.get::<String, _>("type").eq_ignore_ascii_case("TEXT") {
                        columns.push((table.clone(), col.get("name")));
                    }
                }
            }
            columns
        }
        store::Backend::Postgres => sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns
              WHERE table_schema = 'public' AND data_type = 'text'",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("t"), r.get("c")))
        .collect(),
    };
    assert!(
        columns
            .iter()
            .any(|(t, c)| t == "audit_log" && c == "after_json")
            && columns.len() > 40,
        "the scan reads every text column: {columns:?}"
    );
    let mut found = Vec::new();
    for (table, column) in columns {
        for needle in needles {
            let n: i64 = sqlx::query(&format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE {column} LIKE $1"
            ))
            .bind(format!("%{needle}%"))
            .fetch_one(&mut *tx)
            .await
            .unwrap()
            .get("n");
            if n > 0 {
                found.push(format!("{table}.{column} ({needle})"));
            }
        }
    }
    tx.rollback().await.unwrap();
    found
}

async fn erasure_leaves_no_trace_of_the_number(store: &Store) {
    let jane = Msisdn::parse("07700 900123", PhoneRegion::default()).unwrap();
    let olga = Msisdn::parse("+447700900456", PhoneRegion::default()).unwrap();
    let olga_id = seed_customer(store, olga.as_str(), "Olga Other", "o").await;
    let before_jane = row_counts(store).await;
    let jane_id = seed_customer(store, jane.as_str(), "Jane Roe", "j").await;
    // Every way Jane's number and name can be written.
    let jane_traces = [
        "7700900123",
        "+44 7700 900123",
        "07700 900123",
        "7700 900123",
        "Jane Roe",
    ];
    assert!(
        text_columns_holding(store, &jane_traces).await.len() >= 10,
        "the seed puts the number in many places"
    );

    let held = store.held_about(&jane).await.unwrap();
    let olga_before = store.held_about(&olga).await.unwrap();
    assert_eq!(
        held,
        domain::privacy::HeldCounts {
            contacts: 1,
            contact_channels: 2,
            sessions: 2,
            messages: 2,
            media_files: 1,
            guest_tokens: 2,
            outbox_jobs: 4,
            pending_jobs: 2,
            dedup_records: 4,
            start_attempts: 1,
            // create, update, two session creates, conversation.start, the
            // note, an opt-out per channel, and the conversations' opening
            // and closing
            audit_entries: 12,
        }
    );

    // The export holds it all, and says who took it.
    let export = store.export_customer(&ctx(), &jane).await.unwrap();
    assert_eq!(export["number"], "+447700900123");
    assert_eq!(export["contacts"][0]["name"], "Jane Roe");
    assert_eq!(export["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(export["sessions"][0]["onboardingName"], "Jane Roe");
    let bodies: Vec<&str> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert!(
        bodies.iter().all(|b| b.contains("+44 7700 900123")),
        "{bodies:?}"
    );
    assert_eq!(export["mediaFiles"][0]["filename"], "photo.jpg");
    assert_eq!(export["outboxJobs"].as_array().unwrap().len(), 4);
    let tries = export["deliveryAttempts"].as_array().unwrap();
    assert_eq!(tries.len(), 2, "one try per delivered job: {tries:?}");
    assert!(tries[0]["answer"]
        .as_str()
        .unwrap()
        .contains("+44 7700 900123"));
    assert!(tries[0]["messageId"].is_string(), "linked to its line");
    assert_eq!(export["dedupRecords"].as_array().unwrap().len(), 4);
    assert_eq!(export["startAttempts"][0]["channel"], "sms");
    assert_eq!(export["optOuts"].as_array().unwrap().len(), 2);
    assert_eq!(export["optOuts"][0]["source"], "keyword STOP");
    assert_eq!(export["auditEntries"].as_array().unwrap().len(), 12);
    // A conversation per session.
    let conversations = export["conversations"].as_array().unwrap();
    assert_eq!(conversations.len(), 2, "{conversations:?}");
    assert!(!export.to_string().contains("Olga"), "nobody else's data");
    assert!(!export.to_string().contains("secret"), "no guest token");
    let exported = store
        .search_audit(
            &store::AuditFilter {
                action: Some("privacy.export".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(exported.len(), 1);

    let report = store.erase_customer(&ctx(), &jane).await.unwrap();
    assert_eq!(report.removed, held);

    // No text column of any table holds the number or the name any more.
    assert_eq!(
        text_columns_holding(store, &jane_traces).await,
        Vec::<String>::new()
    );
    assert!(store.held_about(&jane).await.unwrap().is_empty());
    // Every table is back to what it held before Jane came, but the audit
    // log, which keeps her rows (redacted) and records the export and erasure.
    let without_audit = |counts: Vec<(String, i64)>| {
        counts
            .into_iter()
            .filter(|(t, _)| t != "audit_log")
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without_audit(row_counts(store).await),
        without_audit(before_jane)
    );
    assert!(store.contact_by_msisdn(&jane).await.unwrap().is_none());
    assert!(matches!(
        store.contact(&jane_id).await,
        Err(DomainError::NotFound { .. })
    ));
    let (chunks, _) = store.media_chunks_stored().await.unwrap();
    assert_eq!(chunks, 1, "only Olga's file's chunk is left");

    // The audit rows are kept, redacted; one more records the erasure.
    let about_jane = store
        .audit_entries(Some("contact"), Some(&jane_id), 10)
        .await
        .unwrap();
    assert_eq!(about_jane.len(), 3);
    let update = about_jane
        .iter()
        .find(|e| e.action == "contact.update")
        .unwrap();
    assert_eq!(update.before.as_ref().unwrap()["name"], "[erased]");
    assert_eq!(update.after.as_ref().unwrap()["msisdn"], "[erased]");
    assert_eq!(update.actor, "api-key:tests", "who did it stays");
    let erased = store
        .search_audit(
            &store::AuditFilter {
                action: Some("privacy.erase".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(erased.len(), 1);
    assert_eq!(erased[0].entity_id, report.erasure_id);
    assert_eq!(
        erased[0].after.as_ref().unwrap()["contactIds"][0],
        jane_id.as_str()
    );

    // Olga is untouched, and her waiting job is still delivered in order.
    assert_eq!(store.held_about(&olga).await.unwrap(), olga_before);
    assert_eq!(store.contact(&olga_id).await.unwrap().name, "Olga Other");
    let jobs = store
        .claim_jobs(10, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let keys: Vec<&str> = jobs.iter().map(|j| j.ordering_key.as_str()).collect();
    assert_eq!(
        keys.len(),
        2,
        "Olga's two waiting jobs, no head left for Jane: {keys:?}"
    );
    assert!(keys.iter().all(|k| k.ends_with("447700900456")));
    let olga_export = store.export_customer(&ctx(), &olga).await.unwrap();
    assert_eq!(olga_export["messages"].as_array().unwrap().len(), 2);
    assert_eq!(olga_export["mediaFiles"].as_array().unwrap().len(), 1);
}

async fn erasure_of_a_number_with_nothing_held_is_recorded(store: &Store) {
    let nobody = Msisdn::parse("+447700900999", PhoneRegion::default()).unwrap();
    assert!(store.held_about(&nobody).await.unwrap().is_empty());
    let report = store.erase_customer(&ctx(), &nobody).await.unwrap();
    assert!(report.removed.is_empty());
    let entries = store
        .audit_entries(Some("privacy"), None, 10)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert!(!serde_json::to_string(&entries[0])
        .unwrap()
        .contains("900999"));
    // By contact id: an unknown one is refused and changes nothing.
    assert!(matches!(
        store.erase_contact(&ctx(), "no-such-contact").await,
        Err(DomainError::NotFound { .. })
    ));
    assert_eq!(
        store
            .audit_entries(Some("privacy"), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn retention_prunes_old_transcripts_and_media_but_not_live_work(store: &Store) {
    use store::{MediaFileInfo, NewMessage};
    let day = 24 * 3600 * 1000;
    let now = now_ms();
    let old = now - 40 * day;
    let cutoff = now - 30 * day;
    // Two conversations: one quiet, one with a job still waiting.
    let quiet = store
        .upsert_session(
            &ctx(),
            &valid(&session_for("sms", "+447700900111", "a@example.com")),
        )
        .await
        .unwrap()
        .0;
    let busy = store
        .upsert_session(
            &ctx(),
            &valid(&session_for("sms", "+447700900222", "a@example.com")),
        )
        .await
        .unwrap()
        .0;
    let file = |id: &str, created_at_ms: i64| MediaFileInfo {
        id: id.into(),
        filename: "f.png".into(),
        mime_type: "image/png".into(),
        size: 1,
        created_at_ms,
        expires_at_ms: now + day,
    };
    for (id, at) in [("oldfile", old), ("oldbusy", old), ("newfile", now)] {
        store.insert_media_file(&file(id, at), b"x").await.unwrap();
    }
    let mut tx = store.begin_write().await.unwrap();
    for (session, body) in [
        (&quiet, "old quiet"),
        (&quiet, "new quiet"),
        (&busy, "old busy"),
    ] {
        let line = NewMessage::new(
            &session.id,
            Direction::Inbound,
            Channel::Sms,
            body,
            MessageStatus::Received,
        );
        Store::add_message(&mut tx, &line).await.unwrap();
        if body.starts_with("old") {
            sqlx::query("UPDATE messages SET created_at = $1 WHERE id = $2")
                .bind(old)
                .bind(&line.id)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    Store::enqueue(
        &mut tx,
        &[
            store::NewJob {
                kind: "send".into(),
                ordering_key: "sms_447700900111".into(),
                idempotency_key: "done-long-ago".into(),
                payload: serde_json::json!({ "text": "old quiet" }),
            },
            store::NewJob {
                kind: "send".into(),
                ordering_key: "sms_447700900222".into(),
                idempotency_key: "waiting".into(),
                payload: serde_json::json!({ "fileUrl": "https://cm.example/media/oldbusy/f.png" }),
            },
        ],
    )
    .await
    .unwrap();
    sqlx::query(
        "UPDATE outbox SET status = 'done', next_attempt_at = $1, updated_at = $1 WHERE idempotency_key = 'done-long-ago'",
    )
    .bind(old)
    .execute(&mut *tx)
    .await
    .unwrap();
    // Done long ago: its key has no head any more.
    sqlx::query("DELETE FROM outbox_heads WHERE ordering_key = 'sms_447700900111'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let lines = |s: &domain::model::Session| {
        let s = s.clone();
        async move {
            let admin = store
                .upsert_agent(&AuditCtx::system(), "boss@example.com", None, Role::Admin)
                .await
                .unwrap();
            store
                .transcript_for(&admin, &s)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.body)
                .collect::<Vec<_>>()
        }
    };

    let pruned = store.prune_transcripts(cutoff).await.unwrap();
    assert_eq!((pruned.rows, pruned.extra), (1, 1));
    assert_eq!(lines(&quiet).await, ["new quiet"]);
    assert_eq!(
        lines(&busy).await,
        ["old busy"],
        "a conversation with a waiting job keeps its lines"
    );
    assert_eq!(store.pending_jobs().await.unwrap(), 1);

    let pruned = store.prune_media(cutoff).await.unwrap();
    assert_eq!((pruned.rows, pruned.extra), (1, 1));
    assert!(store.media_file("oldfile", now).await.unwrap().is_none());
    assert!(
        store.media_file("oldbusy", now).await.unwrap().is_some(),
        "a waiting job still hands it on"
    );
    assert!(store.media_file("newfile", now).await.unwrap().is_some());
    assert_eq!(store.media_chunks_stored().await.unwrap().0, 2);
    // Again: nothing more to do.
    assert_eq!(
        store.prune_transcripts(cutoff).await.unwrap(),
        store::Pruned::default()
    );
    assert_eq!(
        store.prune_media(cutoff).await.unwrap(),
        store::Pruned::default()
    );
}

/// Opens a customer's session (or routes it) to `agent`; its conversation.
async fn route(store: &Store, number: &str, agent: &str) -> domain::model::Session {
    store
        .upsert_session(&ctx(), &valid(&session_for("sms", number, agent)))
        .await
        .unwrap()
        .0
}

fn conflict_code(e: DomainError) -> &'static str {
    match e {
        DomainError::Conflict { code, .. } => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn conversations_open_close_on_transfer_and_reopen_while_latest(store: &Store) {
    use domain::model::{ClosedBy, ConversationStatus};
    use store::{ConversationQuery, NewMessage};
    let number = "+447700900500";
    let a = route(store, number, "agent-a@example.com").await;
    let first = a
        .conversation_id
        .clone()
        .expect("a live session has a conversation");
    let c1 = store.conversation(&first).await.unwrap();
    assert_eq!(c1.status, ConversationStatus::Open);
    assert_eq!(c1.agent.as_deref(), Some("agent-a@example.com"));
    assert_eq!(c1.customer_channel_id, number);

    // A transcript line belongs to the conversation current when written.
    let mut tx = store.begin_write().await.unwrap();
    Store::add_message(
        &mut tx,
        &NewMessage::new(
            &a.id,
            Direction::Inbound,
            Channel::Sms,
            "to agent A",
            MessageStatus::Received,
        ),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // Another agent takes the customer: the first engagement closes as a
    // transfer and a new one opens.
    let b = route(store, number, "agent-b@example.com").await;
    let second = b.conversation_id.clone().unwrap();
    assert_ne!(second, first);
    let c1 = store.conversation(&first).await.unwrap();
    assert_eq!(c1.status, ConversationStatus::Closed);
    assert_eq!(c1.closed_by, Some(ClosedBy::Transfer));
    // The same agent again is the same conversation.
    assert_eq!(
        route(store, number, "agent-b@example.com")
            .await
            .conversation_id,
        Some(second.clone())
    );

    let closed = store
        .close_conversation(&ctx(), &second, ClosedBy::Api, Some("resolved"))
        .await
        .unwrap();
    assert_eq!(closed.status, ConversationStatus::Closed);
    assert_eq!(
        (closed.closed_by, closed.close_reason.as_deref()),
        (Some(ClosedBy::Api), Some("resolved"))
    );
    assert_eq!(
        store.session(&a.id).await.unwrap().status,
        SessionStatus::Ended
    );
    let again = store
        .close_conversation(&ctx(), &second, ClosedBy::Api, None)
        .await;
    assert_eq!(conflict_code(again.unwrap_err()), "conversation_closed");

    // Only the latest can be reopened; it comes back with its agent.
    let older = store.reopen_conversation(&ctx(), &first).await;
    assert_eq!(conflict_code(older.unwrap_err()), "newer_conversation");
    let reopened = store.reopen_conversation(&ctx(), &second).await.unwrap();
    assert_eq!(reopened.status, ConversationStatus::Open);
    assert!(reopened.reopened_at.is_some() && reopened.closed_by.is_none());
    let session = store.session(&a.id).await.unwrap();
    assert_eq!(session.status, SessionStatus::Active);
    assert_eq!(
        session.collab_agent_id.as_deref(),
        Some("agent-b@example.com")
    );
    let open = store.reopen_conversation(&ctx(), &second).await;
    assert_eq!(conflict_code(open.unwrap_err()), "conversation_open");

    // Ending the session through the API closes it as the API's doing.
    let ended = SessionInput {
        status: Some("ended".into()),
        ..Default::default()
    };
    store
        .update_session(&ctx(), &a.id, &valid(&ended))
        .await
        .unwrap();
    assert_eq!(
        store.conversation(&second).await.unwrap().closed_by,
        Some(ClosedBy::Api)
    );

    // Search: the customer's, newest first; by state; as agent A sees them.
    let search = |q: ConversationQuery| async move { store.conversations(&q).await.unwrap() };
    let all = search(ConversationQuery {
        customer_channel: Some("sms".into()),
        customer_channel_id: Some("+44 7700 900500".into()),
        ..Default::default()
    })
    .await;
    let ids: Vec<&str> = all.items.iter().map(|c| c.id.as_str()).collect();
    assert_eq!((all.total, ids), (2, vec![second.as_str(), first.as_str()]));
    let of_a = search(ConversationQuery {
        visible_to: Some(vec!["Agent-A@example.com".into()]),
        ..Default::default()
    })
    .await;
    assert_eq!(
        of_a.items.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [first.as_str()]
    );
    let open_ones = search(ConversationQuery {
        status: Some("open".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(open_ones.total, 0);
    let bad = store
        .conversations(&ConversationQuery {
            status: Some("pending".into()),
            ..Default::default()
        })
        .await;
    assert!(matches!(bad, Err(DomainError::Invalid(f)) if f.field == "status"));

    // Each keeps its transcript.
    let lines = store.conversation_messages(&first).await.unwrap();
    assert_eq!(
        lines.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["to agent A"]
    );
    assert!(store
        .conversation_messages(&second)
        .await
        .unwrap()
        .is_empty());
}

async fn conversations_take_appended_lines_once_and_only_while_open(store: &Store) {
    use store::AppendedLine;
    let new = valid::<SessionInput, NewSession>(&session_for(
        "whatsapp",
        "+447700900501",
        "agent-a@example.com",
    ));
    let c = store.create_conversation(&ctx(), &new).await.unwrap();
    // A second create while it is open names the open one.
    match store.create_conversation(&ctx(), &new).await {
        Err(DomainError::Duplicate { existing_id, .. }) => assert_eq!(existing_id, c.id),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let line =
        AppendedLine::parse(Some("inbound"), Some("Hello\nfrom the flow"), Some("t-1")).unwrap();
    let (m, added) = store
        .append_to_conversation(&ctx(), &c.id, &line)
        .await
        .unwrap();
    assert!(added);
    assert_eq!(m.conversation_id.as_deref(), Some(c.id.as_str()));
    let (again, added) = store
        .append_to_conversation(&ctx(), &c.id, &line)
        .await
        .unwrap();
    assert_eq!((again.id.as_str(), added), (m.id.as_str(), false));
    assert_eq!(store.conversation_messages(&c.id).await.unwrap().len(), 1);

    for (direction, text, field) in [
        (None, Some("x"), "direction"),
        (Some("sideways"), Some("x"), "direction"),
        (Some("outbound"), Some("  "), "text"),
        (Some("outbound"), Some("a\u{7}b"), "text"),
    ] {
        let refused = AppendedLine::parse(direction, text, None).unwrap_err();
        assert_eq!(refused.field, field, "{direction:?} {text:?}");
    }

    store
        .close_conversation(&ctx(), &c.id, domain::model::ClosedBy::Agent, None)
        .await
        .unwrap();
    let late = AppendedLine::parse(Some("outbound"), Some("too late"), None).unwrap();
    let refused = store.append_to_conversation(&ctx(), &c.id, &late).await;
    assert_eq!(conflict_code(refused.unwrap_err()), "conversation_closed");
    assert_eq!(
        store.conversation_messages(&c.id).await.unwrap().len(),
        1,
        "nothing added"
    );
    // Closed, a new one may be created.
    let next = store.create_conversation(&ctx(), &new).await.unwrap();
    assert_ne!(next.id, c.id);
}

/// How many tries the message log holds.
async fn attempts_logged(store: &Store) -> i64 {
    row_counts(store)
        .await
        .into_iter()
        .find(|(t, _)| t == "delivery_attempts")
        .map(|(_, n)| n)
        .expect("the table exists")
}

async fn message_log_records_each_try_and_finds_messages_by_every_filter(store: &Store) {
    use domain::message_log::{MessageLogFilter, MessageLogQuery};
    use store::{AttemptNote, MessageRef, NewMessage, Outcome, RetryPolicy};
    let search = |q: MessageLogQuery| async move {
        let filter = MessageLogFilter::try_from((&q, PhoneRegion::default())).unwrap();
        store
            .search_message_log(&filter, Paging::new(None, None).unwrap())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|m| m.body)
            .collect::<Vec<_>>()
    };
    let (a, _) = store
        .upsert_session(
            &ctx(),
            &valid(&session_for("sms", "+447700900123", "agent-a@example.com")),
        )
        .await
        .unwrap();
    let (b, _) = store
        .upsert_session(
            &ctx(),
            &valid(&session_for(
                "whatsapp",
                "447700900456",
                "agent-b@example.com",
            )),
        )
        .await
        .unwrap();
    // The customer writes (Connect), the agent answers (Webex), and a
    // dialogue line to another customer fails.
    let inbound = NewMessage::new(
        &a.id,
        Direction::Inbound,
        Channel::Sms,
        "hello from A",
        MessageStatus::Received,
    )
    .from_provider("connect", "tx-in-1");
    let answer = NewMessage::new(
        &a.id,
        Direction::Outbound,
        Channel::Sms,
        "answer to A",
        MessageStatus::Queued,
    )
    .from_provider("webex", "webex-msg-1");
    let to_b = NewMessage::new(
        &b.id,
        Direction::Outbound,
        Channel::Whatsapp,
        "line to B",
        MessageStatus::Queued,
    );
    let mut tx = store.begin_write().await.unwrap();
    Store::accept_event(&mut tx, "connect", "tx-in-1")
        .await
        .unwrap();
    for line in [&inbound, &answer, &to_b] {
        Store::add_message(&mut tx, line).await.unwrap();
    }
    Store::enqueue(
        &mut tx,
        &[
            store::NewJob {
                kind: "customer_message".into(),
                ordering_key: "sms_447700900123".into(),
                idempotency_key: "connect:tx-in-1".into(),
                payload: serde_json::json!({}),
            },
            store::NewJob {
                kind: "webex_to_customer".into(),
                ordering_key: "sms_447700900123".into(),
                idempotency_key: "webex:webex-msg-1".into(),
                payload: serde_json::json!({}),
            },
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store
        .set_message_status(
            &to_b.id,
            MessageStatus::Failed,
            None,
            Some(("7103", "not a WhatsApp number")),
        )
        .await
        .unwrap();

    // The customer's job completes with its writes: one try, logged in
    // that transaction.
    let lease = std::time::Duration::from_secs(30);
    let first = store.claim_jobs(10, lease).await.unwrap();
    assert_eq!(first.len(), 1, "one job at a time per conversation");
    let mut tx = store.begin_write().await.unwrap();
    Store::complete_job_noted(
        &mut tx,
        first[0].id,
        &AttemptNote {
            message: Some(MessageRef::Provider {
                provider: "connect",
                id: "tx-in-1".into(),
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // The agent's message: Connect is busy once, then takes it.
    let now_policy = RetryPolicy {
        base: std::time::Duration::ZERO,
        ..Default::default()
    };
    let noted = AttemptNote {
        message: Some(MessageRef::Provider {
            provider: "webex",
            id: "webex-msg-1".into(),
        }),
        http_status: Some(503),
        ..Default::default()
    };
    let send = store.claim_jobs(10, lease).await.unwrap();
    assert_eq!(send[0].kind, "webex_to_customer");
    let busy = Outcome::Retry {
        error: "HTTP 503: 7006 busy".into(),
        retry_after: None,
    };
    store
        .finish_job_noted(&send[0], &busy, &now_policy, 0.0, &noted)
        .await
        .unwrap();
    let again = store.claim_jobs(10, lease).await.unwrap();
    assert_eq!((again[0].id, again[0].attempts), (send[0].id, 2));
    store
        .set_message_status(&answer.id, MessageStatus::Sent, Some("ctx-out-9"), None)
        .await
        .unwrap();
    let accepted = AttemptNote {
        answer: Some("Connect accepted it: ctx-out-9".into()),
        http_status: None,
        ..noted
    };
    store
        .finish_job_noted(&again[0], &Outcome::Done, &now_policy, 0.0, &accepted)
        .await
        .unwrap();
    store
        .set_message_status(&answer.id, MessageStatus::Delivered, None, None)
        .await
        .unwrap();
    assert_eq!(attempts_logged(store).await, 3, "one row per try");

    // One message's hops: each try with its outcome and answer.
    let trail = store.message_trail(&answer.id).await.unwrap();
    assert_eq!(trail.message.connect_transid.as_deref(), Some("ctx-out-9"));
    assert_eq!(trail.message.attempts, 2);
    assert!(trail.message.sent_at.is_some() && trail.message.delivered_at.is_some());
    assert_eq!(trail.message.read_at, None);
    assert_eq!(trail.jobs.len(), 1);
    let tries = &trail.jobs[0].tries;
    assert_eq!(
        tries
            .iter()
            .map(|t| (t.attempt, t.outcome.as_str(), t.http_status))
            .collect::<Vec<_>>(),
        [(1, "retry", Some(503)), (2, "done", None)]
    );
    assert_eq!(tries[0].answer.as_deref(), Some("HTTP 503: 7006 busy"));
    assert_eq!(
        tries[1].answer.as_deref(),
        Some("Connect accepted it: ctx-out-9")
    );
    assert!(tries[0].started_at <= tries[0].finished_at);
    assert_eq!(trail.jobs[0].status, "done");
    let received = store.message_trail(&inbound.id).await.unwrap();
    assert!(received.received_at.is_some(), "the webhook's time");
    assert_eq!(received.jobs[0].kind, "customer_message");
    assert_eq!(received.jobs[0].tries[0].outcome, "done");
    assert!(matches!(
        store.message_trail("no-such-line").await,
        Err(DomainError::NotFound { .. })
    ));

    // Search: each filter, and filters together; newest first.
    let q = MessageLogQuery::default;
    assert_eq!(
        search(q()).await,
        ["line to B", "answer to A", "hello from A"]
    );
    assert_eq!(
        search(MessageLogQuery {
            transid: Some("ctx-out-9".into()),
            ..q()
        })
        .await,
        ["answer to A"]
    );
    assert_eq!(
        search(MessageLogQuery {
            transid: Some("tx-in-1".into()),
            ..q()
        })
        .await,
        ["hello from A"]
    );
    assert_eq!(
        search(MessageLogQuery {
            webex_id: Some("webex-msg-1".into()),
            ..q()
        })
        .await,
        ["answer to A"]
    );
    assert_eq!(
        search(MessageLogQuery {
            customer: Some("07700 900123".into()),
            ..q()
        })
        .await,
        ["answer to A", "hello from A"]
    );
    assert_eq!(
        search(MessageLogQuery {
            customer: Some("+44 7700 900456".into()),
            ..q()
        })
        .await,
        ["line to B"],
        "WhatsApp keeps the digits: both forms are searched"
    );
    assert_eq!(
        search(MessageLogQuery {
            agent: Some("Agent-B@Example.com".into()),
            ..q()
        })
        .await,
        ["line to B"]
    );
    assert_eq!(
        search(MessageLogQuery {
            status: Some("failed".into()),
            ..q()
        })
        .await,
        ["line to B"]
    );
    assert_eq!(
        search(MessageLogQuery {
            customer: Some("+447700900123".into()),
            status: Some("delivered".into()),
            ..q()
        })
        .await,
        ["answer to A"]
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(
        search(MessageLogQuery {
            from: Some(today.clone()),
            to: Some(today),
            ..q()
        })
        .await
        .len(),
        3
    );
    assert_eq!(
        search(MessageLogQuery {
            to: Some("2020-01-01".into()),
            ..q()
        })
        .await,
        Vec::<String>::new()
    );
    // Pages: one message each.
    let all = MessageLogFilter::default();
    let page = |n| Paging::new(Some(n), Some(1)).unwrap();
    let first = store.search_message_log(&all, page(1)).await.unwrap();
    assert_eq!(
        (first.items[0].body.as_str(), first.more),
        ("line to B", true)
    );
    let last = store.search_message_log(&all, page(3)).await.unwrap();
    assert_eq!(
        (last.items[0].body.as_str(), last.more),
        ("hello from A", false)
    );

    // Retention: the tries go with their lines and finished jobs.
    let pruned = store.prune_transcripts(now_ms() + 1).await.unwrap();
    assert_eq!(pruned.rows, 3);
    assert_eq!(attempts_logged(store).await, 0);
}

async fn bot_is_inactive_after_five_failures_in_a_row_until_reactivated(store: &Store) {
    let fresh = store.bot_health().await.unwrap();
    assert!(fresh.active);
    assert_eq!(fresh.consecutive_failures, 0);
    // Four failures, then an answer: the count starts again.
    for _ in 0..4 {
        assert!(store.bot_call_failed("HTTP 503").await.unwrap().active);
    }
    store.bot_call_succeeded().await.unwrap();
    let health = store.bot_health().await.unwrap();
    assert_eq!(health.consecutive_failures, 0);
    assert!(health.last_success_at.is_some());
    assert_eq!(health.last_error.as_deref(), Some("HTTP 503"));
    // A customer is talking to the bot when it goes down.
    let mut tx = store.begin_write().await.unwrap();
    Store::open_bot_conversation_in(&mut tx, "waiting", Channel::Sms, "+447700900503")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Five in a row: inactive from the fifth, and it stays so.
    for n in 1..=5 {
        let h = store.bot_call_failed("timeout").await.unwrap();
        assert_eq!(h.consecutive_failures, n);
        assert_eq!(h.active, n < 5, "after {n} failures");
    }
    let inactive = store.bot_health().await.unwrap();
    assert!(!inactive.active);
    // Its conversation was bypassed: the customer goes the usual way.
    assert_eq!(store.bot_counts().await.unwrap().open, 0);
    assert_eq!(
        store.bot_conversation("waiting").await.unwrap().status,
        domain::bot::BotConversationStatus::Bypassed
    );
    let since = inactive
        .inactive_since
        .clone()
        .expect("when it became inactive");
    // Another failure does not move the time it became inactive.
    let later = store.bot_call_failed("timeout").await.unwrap();
    assert_eq!(later.inactive_since.as_deref(), Some(since.as_str()));
    // An admin reactivates it: active, no failures counted, audited.
    let admin = AuditCtx::new(Actor::Agent("admin@example.com".into()), None);
    let back = store.reactivate_bot(&admin).await.unwrap();
    assert!(back.active);
    assert_eq!(back.consecutive_failures, 0);
    assert_eq!(back.inactive_since, None);
    assert_eq!(
        back.reactivated_by.as_deref(),
        Some("agent:admin@example.com")
    );
    let audit = store
        .audit_entries(Some("bot"), Some("bot"), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "bot.reactivated");
    assert_eq!(audit[0].before.as_ref().unwrap()["active"], false);
}

async fn bot_conversations_end_once(store: &Store) {
    use domain::bot::BotConversationStatus;
    let mut tx = store.begin_write().await.unwrap();
    Store::open_bot_conversation_in(&mut tx, "b1", Channel::Sms, "+447700900501")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let open = store
        .open_bot_conversation(Channel::Sms, "+447700900501")
        .await
        .unwrap()
        .expect("open");
    assert_eq!(open.id, "b1");
    assert_eq!(open.status, BotConversationStatus::Open);
    // Another customer, or another channel, has none.
    assert!(store
        .open_bot_conversation(Channel::Whatsapp, "447700900501")
        .await
        .unwrap()
        .is_none());
    let mut tx = store.begin_write().await.unwrap();
    let first = Store::end_bot_conversation(
        &mut tx,
        "b1",
        BotConversationStatus::HandedOver,
        Some("agent-a@example.com"),
    )
    .await
    .unwrap();
    let second = Store::end_bot_conversation(&mut tx, "b1", BotConversationStatus::Bypassed, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(first && !second, "the first end wins");
    assert_eq!(
        store.bot_conversation("b1").await.unwrap().status,
        BotConversationStatus::HandedOver
    );
    assert!(store
        .open_bot_conversation(Channel::Sms, "+447700900501")
        .await
        .unwrap()
        .is_none());
    let counts = store.bot_counts().await.unwrap();
    assert_eq!(
        (counts.open, counts.handed_over, counts.bypassed),
        (0, 1, 0)
    );
    assert!(matches!(
        store.bot_conversation("nope").await,
        Err(DomainError::NotFound { .. })
    ));
}

async fn concurrent_creates_open_one_conversation_and_refuse_the_rest(store: &Store) {
    let new = valid::<SessionInput, NewSession>(&session_for(
        "sms",
        "+447700900502",
        "agent-a@example.com",
    ));
    // Four at once (spawned before any is awaited).
    let creates: Vec<_> = (0..4)
        .map(|_| {
            let (store, new) = (store.clone(), new.clone());
            tokio::spawn(async move { store.create_conversation(&ctx(), &new).await })
        })
        .collect();
    let mut results = Vec::new();
    for create in creates {
        results.push(create.await.unwrap());
    }
    let opened: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(opened.len(), 1, "{results:?}");
    for r in &results {
        match r {
            Ok(_) => {}
            Err(DomainError::Duplicate { existing_id, .. }) => {
                assert_eq!(existing_id, &opened[0].id)
            }
            Err(e) => panic!("expected a duplicate, got {e:?}"),
        }
    }
}

/// Opening a session marks it read; with nothing unread the view writes
/// nothing, and the mark stays where it was.
async fn a_session_view_writes_its_read_mark_only_when_something_was_unread(store: &Store) {
    use sqlx::Row;
    use store::NewMessage;
    let agent = "agent-viewer";
    let (session, _) = store
        .upsert_session(
            &ctx(),
            &valid(&session_for(
                "sms",
                "447700900451",
                "agent-viewer@example.com",
            )),
        )
        .await
        .unwrap();
    let ids = [session.id.clone()];
    let read_mark = || async {
        let mut tx = store.begin_write().await.unwrap();
        let at: Option<i64> = sqlx::query(
            "SELECT read_at FROM session_reads WHERE agent_id = $1 AND session_id = $2",
        )
        .bind(agent)
        .bind(&session.id)
        .fetch_optional(&mut *tx)
        .await
        .unwrap()
        .map(|r| r.get("read_at"));
        tx.rollback().await.unwrap();
        at
    };
    let session_id = session.id.as_str();
    let customer_writes = |text: &'static str| async move {
        let mut tx = store.begin_write().await.unwrap();
        let line = NewMessage::new(
            session_id,
            Direction::Inbound,
            Channel::Sms,
            text,
            MessageStatus::Received,
        );
        Store::add_message(&mut tx, &line).await.unwrap();
        tx.commit().await.unwrap();
    };
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(5));

    // Nothing to read: a view writes nothing, and nothing counts as unread.
    store.mark_session_read(agent, &session.id).await.unwrap();
    assert_eq!(read_mark().await, None);
    assert!(store.unread_counts(agent, &ids).await.unwrap().is_empty());

    customer_writes("hello?").await;
    assert_eq!(
        store.unread_counts(agent, &ids).await.unwrap()[&session.id],
        1
    );
    pause().await;
    store.mark_session_read(agent, &session.id).await.unwrap();
    let first = read_mark().await.expect("the view read a message");
    assert!(store.unread_counts(agent, &ids).await.unwrap().is_empty());

    // Viewing again with nothing new is a read only: the mark stays.
    pause().await;
    store.mark_session_read(agent, &session.id).await.unwrap();
    assert_eq!(read_mark().await, Some(first));

    // A new message counts again, and the next view reads it.
    pause().await;
    customer_writes("still there?").await;
    assert_eq!(
        store.unread_counts(agent, &ids).await.unwrap()[&session.id],
        1
    );
    pause().await;
    store.mark_session_read(agent, &session.id).await.unwrap();
    assert!(read_mark().await.unwrap() > first);
    assert!(store.unread_counts(agent, &ids).await.unwrap().is_empty());
}

/// A page of customers' WhatsApp windows comes from one read, each by its
/// own id and channel.
async fn last_inbound_is_read_for_a_page_of_customers_at_once(store: &Store) {
    use store::{Acceptance, Intake};
    // Three WhatsApp customers with sessions and one SMS customer with the
    // same number as one of them; only two of the WhatsApp ones write.
    let numbers = ["447700900401", "447700900402", "447700900403"];
    for number in numbers {
        store
            .upsert_session(
                &ctx(),
                &valid(&session_for("whatsapp", number, "agent-a@example.com")),
            )
            .await
            .unwrap();
    }
    store
        .upsert_session(
            &ctx(),
            &valid(&session_for("sms", numbers[0], "agent-a@example.com")),
        )
        .await
        .unwrap();
    let page = [numbers[0], numbers[1], numbers[2], "447700900499"];
    assert!(
        store
            .last_inbound_of(Channel::Whatsapp, &page)
            .await
            .unwrap()
            .is_empty(),
        "nobody has written yet"
    );
    let before = store::now_ms();
    let intake = Intake::start(store.clone());
    for (n, number) in [numbers[0], numbers[2]].into_iter().enumerate() {
        intake
            .write(Acceptance {
                receipt: None,
                provider: "connect",
                event_id: format!("wrote-{n}"),
                touch_customer: Some(customer(Channel::Whatsapp, &format!("+{number}"))),
                jobs: vec![],
            })
            .await
            .unwrap();
    }
    let last = store
        .last_inbound_of(Channel::Whatsapp, &page)
        .await
        .unwrap();
    let mut wrote: Vec<&str> = last.keys().map(String::as_str).collect();
    wrote.sort_unstable();
    assert_eq!(
        wrote,
        [numbers[0], numbers[2]],
        "those who wrote, by their id"
    );
    assert!(last
        .values()
        .all(|at| *at >= before && *at <= store::now_ms()));
    assert!(
        store
            .last_inbound_of(Channel::Sms, &page)
            .await
            .unwrap()
            .is_empty(),
        "another channel's session with the same number has not written"
    );
    assert!(store
        .last_inbound_of(Channel::Whatsapp, &[])
        .await
        .unwrap()
        .is_empty());
}

/// Webhooks arriving at once are written in batches (a few statements per
/// batch): each event once, a redelivery (also in the same batch) changes
/// nothing, a key's jobs keep the order their events came in, and a
/// customer's message reaches their session's WhatsApp window.
async fn intake_writes_each_event_once_and_keeps_each_keys_order(store: &Store) {
    use std::time::Duration;
    use store::{Acceptance, Intake};
    let (session, _) = store
        .upsert_session(
            &ctx(),
            &valid(&session_for(
                "whatsapp",
                "447700900321",
                "agent-a@example.com",
            )),
        )
        .await
        .unwrap();
    assert_eq!(session.last_inbound_at, None);
    let intake = Intake::start(store.clone());
    // Spawned in order (the test's runtime has one thread): they reach
    // the intake in this order, and at once, so they share batches.
    let writes: Vec<_> = (0..60)
        .map(|n| {
            let intake = intake.clone();
            // Events 0..50 once, 10..20 a second time (redelivered).
            let event = if n < 50 { n } else { n - 40 };
            tokio::spawn(async move {
                let fresh = intake
                    .write(Acceptance {
                        receipt: None,
                        provider: "connect",
                        event_id: format!("tx-{event}"),
                        touch_customer: (event == 7)
                            .then(|| customer(Channel::Whatsapp, "+447700900321")),
                        jobs: vec![job(&format!("k{}", event % 3), event)],
                    })
                    .await
                    .unwrap();
                (event, fresh)
            })
        })
        .collect();
    let mut results = Vec::new();
    for write in writes {
        results.push(write.await.unwrap());
    }
    for event in 0..50 {
        let fresh = results.iter().filter(|(e, f)| *e == event && *f).count();
        assert_eq!(fresh, 1, "event {event} is new exactly once");
    }
    assert_eq!(store.pending_jobs().await.unwrap(), 50);
    assert!(store
        .session(&session.id)
        .await
        .unwrap()
        .last_inbound_at
        .is_some());

    // Each key's jobs come out in the order their events were written.
    let lease = Duration::from_secs(30);
    let mut seen: std::collections::HashMap<String, Vec<i64>> = Default::default();
    loop {
        let claimed = store.claim_jobs(10, lease).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        for job in claimed {
            seen.entry(job.ordering_key.clone())
                .or_default()
                .push(job.payload["n"].as_i64().unwrap());
            let mut tx = store.begin_write().await.unwrap();
            Store::complete_job(&mut tx, job.id).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
    assert_eq!(seen.values().map(Vec::len).sum::<usize>(), 50);
    for (key, ns) in &seen {
        let mut sorted = ns.clone();
        sorted.sort();
        assert_eq!(ns, &sorted, "{key}'s jobs ran in the order they came");
    }
}

async fn intake_counts_the_webhooks_waiting_for_their_write(store: &Store) {
    use store::{Acceptance, Intake};
    let intake = Intake::start(store.clone());
    assert_eq!(intake.waiting(), 0);
    // Another transaction holds event e1 (on SQLite, the one writer): the
    // intake's write of it waits.
    let mut held = store.begin_write().await.unwrap();
    Store::accept_events(&mut held, &[("connect", "e1")])
        .await
        .unwrap();
    let writes: Vec<_> = (0..3)
        .map(|n| {
            let intake = intake.clone();
            tokio::spawn(async move {
                intake
                    .write(Acceptance {
                        receipt: None,
                        provider: "connect",
                        event_id: "e1".into(),
                        touch_customer: None,
                        jobs: vec![job("k", n)],
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while intake.waiting() < 3 {
        assert!(
            std::time::Instant::now() < until,
            "{} waiting",
            intake.waiting()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    held.rollback().await.unwrap();
    let mut fresh = 0;
    for write in writes {
        fresh += usize::from(write.await.unwrap());
    }
    assert_eq!(fresh, 1, "the event is new once");
    assert_eq!(intake.waiting(), 0, "written: none waits");
}

/// A group commit's batch: one transaction whose first row records the
/// batch's size; a write of "bad" fails (and with it, first, its batch).
fn write_values<'a>(
    store: &'a Store,
    values: &'a [String],
) -> store::group_commit::BatchFuture<'a, String> {
    Box::pin(async move {
        let mut tx = store.begin_write().await?;
        sqlx::query("INSERT INTO gc_batches (size) VALUES ($1)")
            .bind(values.len() as i64)
            .execute(&mut *tx)
            .await?;
        for value in values {
            if value == "bad" {
                return Err(DomainError::Storage("a bad write".into()));
            }
            sqlx::query("INSERT INTO gc_values (v) VALUES ($1)")
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(values.iter().map(|v| format!("wrote {v}")).collect())
    })
}

/// Writes that arrive together share a transaction; when one of them
/// fails, the others are still written (one by one) and it alone fails.
async fn group_commit_shares_transactions_and_fails_a_bad_write_alone(store: &Store) {
    use sqlx::Row;
    use store::group_commit::GroupCommit;
    let mut tx = store.begin_write().await.unwrap();
    for table in [
        "CREATE TABLE gc_batches (size BIGINT NOT NULL)",
        "CREATE TABLE gc_values (v TEXT NOT NULL)",
    ] {
        sqlx::query(table).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let writes: GroupCommit<String, String> =
        GroupCommit::start(store.clone(), "test", write_values, |v| v.as_str());
    let write_all = |values: Vec<String>| {
        // Spawned at once (the test's runtime has one thread): they wait
        // in the queue together.
        let tasks: Vec<_> = values
            .into_iter()
            .map(|v| {
                let writes = writes.clone();
                tokio::spawn(async move { writes.write(v).await })
            })
            .collect();
        async move {
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.unwrap());
            }
            results
        }
    };
    let values =
        |round: &str| -> Vec<String> { (0..20).map(|n| format!("{round}{n:02}")).collect() };
    let written = write_all(values("a")).await;
    assert!(written
        .iter()
        .all(|r| r.as_ref().is_ok_and(|w| w.starts_with("wrote a"))));
    let read = |sql: &'static str| async move {
        let mut tx = store.begin_write().await.unwrap();
        let n: i64 = sqlx::query(sql).fetch_one(&mut *tx).await.unwrap().get("n");
        tx.rollback().await.unwrap();
        n
    };
    let largest = read("SELECT MAX(size) AS n FROM gc_batches").await;
    assert!(
        largest > 1,
        "20 writes at once were {largest} per transaction at most"
    );

    let mut round = values("b");
    round[7] = "bad".into();
    let written = write_all(round).await;
    for (n, result) in written.iter().enumerate() {
        match n {
            7 => assert!(result.is_err(), "the bad write fails"),
            _ => assert_eq!(result.as_ref().unwrap(), &format!("wrote b{n:02}")),
        }
    }
    let count = read("SELECT COUNT(*) AS n FROM gc_values WHERE v LIKE 'b%'").await;
    assert_eq!(count, 19, "every other write of the round is written");
}

/// A receipt that only moves a line's status is written with its dedup key
/// (no job). A send's outcome and its receipts can arrive in either order:
/// the status only moves forward, the send's transid is kept either way,
/// and a failure is final. A failed post's reset (any move) still goes back.
async fn intake_receipts_move_a_line_forward_only(store: &Store) {
    use store::{Acceptance, Intake, LineStatus, NewMessage};
    let (session, _) = store
        .upsert_session(
            &ctx(),
            &valid(&session_for("sms", "+447700900654", "agent-a@example.com")),
        )
        .await
        .unwrap();
    let line = NewMessage::new(
        &session.id,
        Direction::Outbound,
        Channel::Sms,
        "answer",
        MessageStatus::Queued,
    );
    let mut tx = store.begin_write().await.unwrap();
    Store::add_message(&mut tx, &line).await.unwrap();
    tx.commit().await.unwrap();
    let intake = Intake::start(store.clone());
    let receipt = |event: &str, status| Acceptance {
        provider: "connect-receipt",
        event_id: event.into(),
        touch_customer: None,
        receipt: Some(LineStatus {
            line: line.id.clone(),
            status,
        }),
        jobs: Vec::new(),
    };
    let status = || async { store.message_status(&line.id).await.unwrap().unwrap() };

    // Delivered before the send's own outcome is written.
    assert!(intake
        .write(receipt("r-delivered", MessageStatus::Delivered))
        .await
        .unwrap());
    assert_eq!(status().await, MessageStatus::Delivered);
    assert_eq!(store.pending_jobs().await.unwrap(), 0, "nothing to run");
    let mut tx = store.begin_write().await.unwrap();
    Store::set_message_status_in(&mut tx, &line.id, MessageStatus::Sent, Some("tid-1"), None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(status().await, MessageStatus::Delivered, "not undone");
    let trail = store.message_trail(&line.id).await.unwrap();
    assert_eq!(trail.message.connect_transid.as_deref(), Some("tid-1"));
    assert!(trail.message.sent_at.is_some() && trail.message.delivered_at.is_some());

    // A late lower receipt changes nothing; a higher one moves; the same
    // receipt again is a duplicate.
    assert!(intake
        .write(receipt("r-submitted", MessageStatus::Submitted))
        .await
        .unwrap());
    assert_eq!(status().await, MessageStatus::Delivered);
    assert!(intake
        .write(receipt("r-read", MessageStatus::Read))
        .await
        .unwrap());
    assert_eq!(status().await, MessageStatus::Read);
    assert!(!intake
        .write(receipt("r-read", MessageStatus::Read))
        .await
        .unwrap());

    // A failure is final: a later success does not undo it.
    let mut tx = store.begin_write().await.unwrap();
    Store::set_message_status_in(
        &mut tx,
        &line.id,
        MessageStatus::Failed,
        None,
        Some(("7107", "too long")),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    intake
        .write(receipt("r-delivered-again", MessageStatus::Delivered))
        .await
        .unwrap();
    assert_eq!(status().await, MessageStatus::Failed);
    let trail = store.message_trail(&line.id).await.unwrap();
    assert_eq!(trail.message.error_code.as_deref(), Some("7107"));

    // A failed post goes back to `received` for its retry (any move).
    store
        .set_message_status(&line.id, MessageStatus::Received, None, None)
        .await
        .unwrap();
    assert_eq!(status().await, MessageStatus::Received);
}

/// SQLite: the write-ahead log is copied back by the store's checkpoint
/// thread, not left to the writer's backstop (`wal_autocheckpoint`, 10,000
/// pages): after a transaction of some 1,600 pages, the next writes find the
/// log copied back and start it over. A log that starts over gets new salts
/// in its header (bytes 16..24), which is what this watches. Without the
/// thread the log would never start over here. Once writes stop, the file,
/// grown past 6 MB, is cut to nothing.
#[tokio::test]
async fn sqlite_log_is_copied_back_while_the_store_writes() {
    let db = TestDb::sqlite().await;
    let store = &db.store;
    let wal_path = match &db.db {
        ScratchDb::Sqlite(path) => format!("{}-wal", path.display()),
        ScratchDb::Postgres { .. } => unreachable!("a SQLite database"),
    };
    let salts = || {
        let header = std::fs::read(&wal_path).expect("the write-ahead log beside the database");
        // A file cut to nothing (idle) starts over too.
        header.get(16..24).unwrap_or_default().to_vec()
    };
    let size = || std::fs::metadata(&wal_path).expect("the log").len();
    let write = |rows: usize, bytes: usize| async move {
        let mut tx = store.begin_write().await.unwrap();
        for _ in 0..rows {
            sqlx::query("INSERT INTO filler (bytes) VALUES ($1)")
                .bind(vec![7u8; bytes])
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    };
    let mut tx = store.begin_write().await.unwrap();
    sqlx::query("CREATE TABLE filler (bytes BLOB NOT NULL)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Some 1,600 pages of 4 KB in one transaction (the log cannot start
    // over in the middle of it), well below the backstop.
    write(400, 16 * 1024).await;
    let before = salts();
    assert!(size() > 6_000_000, "the log holds the transaction");
    // Small writes, a few a second, until one finds the log copied back.
    // The thread copies every 100 ms; the limit only bounds a failure.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while salts() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the log was not copied back and started over within 30 s of a burst"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        write(1, 16).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while size() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the log was not cut within 30 s of the last write: {} bytes",
            size()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    db.finish().await;
}

/// Postgres: a connection the server cut while it sat idle in the pool (a
/// restart, a proxy's idle timeout) is found and replaced before use, so
/// the next query works. A connection used within `store::TRUSTED_IDLE` is
/// handed out without that check (`store::pool_options`); the wait here is
/// past it.
#[tokio::test]
async fn postgres_a_connection_cut_while_idle_is_replaced_before_use() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = &db.store;
    store
        .ping()
        .await
        .expect("the pool holds a working connection");
    // Every connection to the test's own database is the store's.
    let pids: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            .fetch_all(&mut *store.begin_write().await.unwrap())
            .await
            .unwrap();
    let cut = cut_connections(&db, &pids).await;
    assert!(cut >= 1, "the store's idle connections were cut");
    tokio::time::sleep(store::TRUSTED_IDLE + std::time::Duration::from_millis(100)).await;
    store
        .ping()
        .await
        .expect("a cut connection is replaced, not used");
    let page = store
        .list_contacts(&ContactQuery::default())
        .await
        .expect("reads work on the new connection");
    assert_eq!(page.total, 0);
    db.finish().await;
}

/// Postgres: a connection the server cut while a transaction held it fails
/// that transaction, and is closed when given back to the pool, not handed
/// out again: every read after it works at once, without waiting past
/// `store::TRUSTED_IDLE` (the pool flushes a released connection instead of
/// pinging it: vendor/README.md).
#[tokio::test]
async fn postgres_a_connection_cut_in_use_is_not_handed_out_again() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    let pid = backend_pid(&mut tx).await;
    let cut = cut_connections(&db, &[pid]).await;
    assert_eq!(cut, 1, "the transaction's connection was cut");
    sqlx::query("SELECT 1")
        .execute(&mut *tx)
        .await
        .expect_err("the cut connection fails its transaction");
    drop(tx);
    // More reads, one after another, than the pool holds connections: each
    // idle connection comes round, the cut one would too.
    let started = std::time::Instant::now();
    for read in 0..40 {
        store
            .ping()
            .await
            .unwrap_or_else(|e| panic!("read {read} after the cut failed: {e}"));
    }
    assert!(
        started.elapsed() < store::TRUSTED_IDLE,
        "the reads ran within the time a used connection is trusted"
    );
    db.finish().await;
}

/// Postgres: a transaction dropped without commit (its request cancelled)
/// is rolled back before its connection runs anything else: its write is
/// gone and the next transaction on the connection starts clean. (The pool
/// flushes the rollback on release; the driver would also send it before
/// the connection's next statement.)
#[tokio::test]
async fn postgres_a_dropped_transaction_is_rolled_back_before_its_connection_is_reused() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = &db.store;
    let mut tx = store.begin_write().await.unwrap();
    let pid = backend_pid(&mut tx).await;
    sqlx::query("CREATE TABLE dropped_write (n INTEGER)")
        .execute(&mut *tx)
        .await
        .unwrap();
    drop(tx);
    // Reads one after another until the same connection comes round.
    for _ in 0..40 {
        let mut tx = store.begin_write().await.unwrap();
        let (same, table): (i32, Option<String>) =
            sqlx::query_as("SELECT pg_backend_pid(), CAST(to_regclass('dropped_write') AS TEXT)")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!(table, None, "the dropped transaction's write is gone");
        tx.commit().await.unwrap();
        if same == pid {
            db.finish().await;
            return;
        }
    }
    panic!("the dropped transaction's connection was never handed out again");
}

/// The Postgres server process behind a transaction's connection.
async fn backend_pid(tx: &mut store::WriteTx) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut **tx)
        .await
        .unwrap()
}

/// Has Postgres cut the connections of these server processes, as a restart
/// does; how many it cut.
async fn cut_connections(db: &TestDb, pids: &[i32]) -> usize {
    use sqlx::Connection;
    let mut admin = sqlx::AnyConnection::connect(&db.db.url()).await.unwrap();
    let mut cut = 0;
    for pid in pids {
        let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        cut += usize::from(done);
    }
    admin.close().await.unwrap();
    cut
}
