# Starling's words, in British English. Every word the UI shows is here:
# a service can add another language by translating this file.
# Data (names, notes, area and stage names from an instrument) is not here.

app-name = Starling
skip-to-content = Skip to main content
nav-label = Main
nav-journals = Journals
nav-new = Start a journal
nav-join = Join with an invite
nav-data = Your data
nav-devices = Your devices
footer-local = Starling runs on this device. Your journal is stored here and sent to the relay only encrypted; nobody at the relay can read it.

status-label = Sync:
status-starting = starting…
status-nothing-yet = nothing to sync yet: there is no journal on this device.
status-online = connected. Changes are shared as they happen.
status-offline = offline. That's fine: your changes are kept on this device and sent when the connection is back.
status-partial = connected, but one of your relays can't be reached. The journals kept there are safe on this device, and their changes are sent when it is back.
status-paused = paused for a moment while another Starling command uses the sync. It carries on by itself.
status-elsewhere = another Starling window is keeping this device in sync.
status-relays = Relay details

live-new-changes = There are new changes to this page.
live-show = Show them

error-summary = There is a problem
problem-not-found = Not found
problem-failed = Something went wrong
problem-back = Go back to your journals
problem-no-reading = There is no such reading in this journal.
problem-no-page = There is no page at this address. It may have been typed wrong, or come from an old link.

done-data-saved = Your copy is saved.
done-ca-trusted = The certificate is added. This device now trusts relays whose certificates it signed, and tries them again at once.
done-ca-untrusted = This device no longer trusts that certificate.
done-ca-already-gone = That certificate was removed already.
done-already-settled = This was already settled, on another page or device: here is the value kept.
done-setup-already = This device is already set up: here are its journals.
done-device-added = This device is now yours: your journals are here.
done-set-up-first = Set up Starling on this device first: then your journals, and everything else, are here.
done-invite-withdrawn = The invite is withdrawn: its link no longer works.
done-invite-withdrawn-later = The invite is withdrawn on this device. The relay could not be reached: its link works until this device syncs again.
done-invite-gone = That invite was used or withdrawn already.
done-goal-changed = The goal is changed.
done-goal-removed = The goal and its steps are removed from the plan.
done-step-removed = The step is removed from the plan.
done-restored = It is back in the plan.
done-deleted = The journal is deleted. Everyone else's devices remove it the next time they sync.
done-deleted-here = The journal is deleted. It had never reached its relay, so nobody else had it.
done-left = You have left the journal, and it is removed from this device.
done-erase-queued = The relay could not be reached, so this will happen the next time this device syncs. The journal stays here until then.
done-setup = You're set up. Start a journal, or join one with an invite.
done-created = Journal started. Add a reading when you're ready.
done-joined = You've joined the journal.
done-already-member = You were already in this journal, so nothing changed.
done-reading = Reading started.
done-reading-deleted = Reading deleted. Everyone sharing the journal stops seeing it after their next sync. You can bring it back here.
done-reading-restored = Reading restored, with everything it held.
done-saved = Saved.
done-nothing = Nothing changed.
done-settled = Settled. Everyone sees the same value after their next sync.
done-signed = Signed off.
done-goal = Goal added.
done-step = Step added.
done-step-done = Step marked as done.
done-step-undone = Step marked as not done.
done-note = Note saved.
done-removed = Member removed. Anything written from now on is protected with a new key they don't have.

setup-title = Set up Starling on this device
setup-intro = Starling keeps a Recovery Star journal on your own device. Your key stays here.
setup-name = Your name
setup-name-hint = This is how others in your journals will see you.
setup-name-error = Enter your name
setup-continue = Continue

journals-title = Your journals
journals-none = You don't have any journals on this device yet.
journals-filter = Find by name
journals-show = Show
journals-show-all = All journals
journals-show-attention = Needs attention
journals-sort = Sort by
journals-sort-name = Name
journals-sort-reading = Latest reading
journals-sort-attention = Conflicts and steps due
journals-sort-review = Next review
journals-apply = Apply
journals-count = Showing { $shown } of { $total } { $total ->
    [one] journal
   *[other] journals
}
journal-joining = Joining…
journal-relay-unreached = This journal has not reached its relay yet ({ $relay }). If you are online and it stays like this, its address may be wrong.
journal-relay-correct = Correct the relay address
relay-title = Correct the relay address
relay-intro = A journal that has not reached its relay yet can still go to another address; once a relay holds it, it stays there. Your care team can tell you the right address.
relay-label = Relay address
relay-hint = For example, relay.example.org, or wss://relay.example.org:7878 for a relay on another port. A relay that serves TLS on this computer's own address needs wss:// in front.
relay-button = Use this address
relay-back = Back to the journal, without changing it
done-relay-corrected = The journal now syncs through the new address.
journals-report = Distance travelled across your journals
report-title = Distance travelled across your journals
report-intro = Each journal's change in agreed scores, from its first reading to its latest, area by area. The last row is the mean change over the journals with two or more readings.
report-unreadable = These journals could not be read
report-none = No journal has agreed scores yet.
report-caption = Change in agreed scores, first reading to latest, in { $count } { $count ->
    [one] journal
   *[other] journals
}
report-journal = Journal
report-readings = Readings
report-conflicts = Open conflicts
report-from-to = { $first } to { $latest }
report-no-score = no agreed score
report-mean = Mean change ({ $count } { $count ->
    [one] journal
   *[other] journals
} with two or more readings)
report-mean-value = { $value }
report-back = Back to your journals
journal-waiting-first-sync = This journal will appear after its first sync.
journal-waiting-title = Waiting for the journal
card-last-reading = Last reading
card-no-readings = none yet
card-conflicts = Conflicts
card-gaps = Areas where views differ
card-steps-due = Steps due
card-review = Next review
card-no-review = not set
card-sync = Saved
card-needs-attention = Needs attention

sync-not-syncing = Not in sync:
sync-local-only = Not sent yet:
sync-local-count = { $count ->
    [one] one new change is kept on this device until the relay has it.
   *[other] { $count } new changes are kept on this device until the relay has them.
}
sync-at-relay = Everything is saved at the relay

new-title = Start a journal
new-client-name = Whose journal is it?
new-client-name-hint = Leave blank for your own.
new-relay = Relay
new-relay-hint = Your organisation's relay address, for example relay.example.org. If they gave you a certificate for it too, add it under Relay details first.
new-relay-missing = Enter your organisation's relay address
new-instrument = What to use for readings
instrument-recovery-star = Recovery Star
instrument-compass = Starling Compass
new-create = Start the journal

join-title = Join a journal
join-intro = Someone invited you with a link. Paste it here.
join-link = Invite link
join-link-hint = It starts with starling://invite/. Treat it like a password.
join-button = Join

journal-title = { $name }'s journal
tabs-label = Journal sections
tab-overview = Overview
tab-plan = Action plan
tab-notes = Notes
tab-history = History
tab-share = Sharing
tab-export = Export and print
journal-conflicts = { $count ->
    [one] One value was set differently on two devices. It waits for you to settle it.
   *[other] { $count } values were set differently on two devices. They wait for you to settle them.
}
journal-see-conflicts = See and settle
readings-title = Readings
readings-none = No readings yet.
reading-new = Start a new reading
reading-date = Date
reading-date-hint = Leave blank for today.
reading-mode = How it's done
mode-joint = Together, client and worker
mode-client = By the client
mode-worker = By the worker
reading-start = Start the reading
undated = undated
tag-gaps = gaps
tag-conflict = conflict
tag-gap = gap of { $gap }
tag-check-author = check who wrote this
tag-overdue = overdue

chart-title = Star chart
chart-label = Star chart of the chosen readings. The table after it gives the same scores.
chart-readings = Readings to compare
chart-perspectives = Whose view
chart-show = Show
chart-how = Each area is a spoke from 1 at the centre to 10 at the edge. The client's view is drawn with dashes, the worker's with dots, the agreed score with a solid line.
chart-table = Scores in the chart
area = Area
stage = Stage
perspective-client = Client
perspective-worker = Worker
perspective-agreed = Agreed
perspective-supporter = Supporter
distance-title = Distance travelled
distance-caption = Agreed scores: the first and the latest for each area
distance-first = First
distance-latest = Latest
distance-change = Change

reading-heading = Reading of { $date } ({ $mode })
reading-page-title = Reading of { $date }
reading-table = Scores by area
reading-marks = Notes and marks
reading-change = Change
reading-back = Back to the reading of { $date }
reading-date-title = Correct the date
reading-date-taken = Date the reading was taken
reading-date-taken-hint = A date after today can't be used.
reading-date-change = Change the date
reading-date-missing = Enter the date the reading was taken.
reading-delete-title = Delete this reading
reading-delete-hint = It is deleted for everyone who shares this journal. You can bring it back from "Deleted readings" on the journal's page. If someone changes it on their device meanwhile, it is kept and shown as a conflict.
reading-delete-button = Delete this reading
reading-deleted-while-edited = This reading was deleted on one device while it was changed on another, so it is kept. Settle the conflict below to keep it or delete it.
deleted-title = Deleted readings
deleted-none = No readings are deleted.
deleted-hint = Restoring a reading brings it back for everyone, with its scores, notes and sign-off.
deleted-reading = Reading of { $date }
deleted-restore = Restore the reading of { $date }
deleted-back = Back to the journal
readings-deleted-link = Deleted readings
not-scored = not scored
note-label = Note:
actions = Actions
signoff-label = Sign-off:
signoff-unsigned = not signed off yet
signoff-partial = signed by { $who } ({ $count } of 2)
signoff-outdated = { $who } signed an earlier version. Changed since: { $fields }. Check it, and sign it off again if it is right.
signoff-field-note = note
signoff-field-instrument = Form
signoff-you-signed = You have signed this version. It is signed off once the other side signs it on their device.
signoff-done = signed off by the client and the worker
signoff-amended = changed after sign-off: { $fields }
signoff-title = Sign off
signoff-hint = When you both agree the reading is right, each of you signs it off on your own device.
signoff-button = Sign off this reading
conflicts-title = Settle a difference
conflicts-hint = These were changed differently on two devices before they synced. Nothing was lost: keep one of the values below, or set a new one as usual.
conflict-score = { $area }: { $perspective } score
conflict-reading = The reading's { $field }
conflict-reading-date = The date the reading was taken
conflict-reading-mode = How the reading was done
conflict-reading-review_date = The review date
conflict-in-reading = { $what }, in the reading of { $date }
conflict-goal-target = The target of the goal “{ $goal }”
conflict-step-owner = Who does the step “{ $step }”
conflict-step-due = When the step “{ $step }” is due
conflict-step-done = Whether the step “{ $step }” is done
conflict-note-date = The date of the note “{ $note }”
conflict-goal-deleted = Whether to keep the goal “{ $goal }”
conflict-step-deleted = Whether to keep the step “{ $step }”
conflict-note-deleted = Whether to keep the note “{ $note }”
conflict-keep-item = Keep it
conflict-delete-item = Delete it
conflict-value-done = done
conflict-value-not-done = not done
conflicts-none = Nothing to settle: every value is agreed.
conflict-said = { $who } said { $value }
conflict-keep = Keep { $value }
conflict-reading-deleted = Whether to keep this reading
conflict-area-note = The note on { $area }
conflict-deleted-by = { $who } deleted it
conflict-edited-by = { $who } changed it
conflict-keep-reading = Keep the reading
conflict-delete-reading = Delete the reading
unknown-device = someone not named in this journal

score-yours-client = Your score (as the client)
score-yours-worker = Your score (as the worker)
score-hint = Choose the step on the ladder that fits now.
score-agreed = Agreed score
score-agreed-hint = The score you agreed together, if you have.
score-not-agreed = Not agreed yet
score-invalid = Choose a step on the ladder
note-area = Note on this area
save = Save
cancel = Cancel

plan-title = Action plan
plan-review = Review date:
plan-review-set = Set the review date
plan-goals = Goals set at this reading
plan-carried = Steps carried forward from earlier readings
plan-target = Target score
plan-no-steps = No steps yet.
plan-done = done
plan-due = by { $date }
plan-mark-done = Mark done
plan-step-remove = Remove
plan-goal-change = Change or remove this goal
plan-goal-save = Save the goal
plan-goal-remove = Remove this goal and its steps
plan-undo-remove = Undo: bring it back
plan-mark-undone = Not done yet
plan-add-step = Add a step
plan-step-text = What is to be done
plan-step-owner = Who does it
plan-step-due = By when
plan-add-goal = Add a goal
plan-goal-title = The goal
plan-goal-hint = In the client's own words.
plan-goal-missing = Write the goal first: it is empty.
plan-target-hint = Optional: the step on the ladder the goal aims for, 1 to 10.
plan-target-invalid = The target is a whole number from 1 to 10, or leave it empty.
plan-step-missing = Write what is to be done first: it is empty.
owner-client = the client
owner-worker = the worker
owner-supporter = the supporter
owner-other = someone else

notes-title = Notes
notes-add = Write a note
notes-text = Note
notes-date = Date
notes-save = Save the note
notes-text-missing = Write the note first: it is empty.
notes-none = No notes yet.

history-title = History
history-hint = Every change, newest first: who made it and when. Choose "See it then" to look at the journal as it was.
history-when = When
history-who = Who
history-what = What changed
history-see = See it then
history-then = The journal as it was then
history-now = Back to now

export-title = Export and print
export-intro = Download a copy of this journal.
export-json = Everything, as JSON (documented format)
export-csv = Scores, as a spreadsheet (CSV)
export-automerge = The raw document, for other automerge tools
export-fhir = The readings and plan for a care record system (FHIR)
export-everything = A copy of everything about you on this device, every journal included
print-link = Print a review (reading, star and action plan)
print-back = Back to the journal
print-title = { $name }: review of { $date }
print-how = Use your browser's Print command to print this page or save it as a PDF.

share-members = Who is in this journal
share-col-name = Name
share-col-as = As
share-col-access = Access
share-you = (you)
share-unnamed = not named yet
share-removed = removed
share-removed-on = removed on { $date }
share-left = left
share-left-on = left on { $date }
share-remove = Remove { $name }
share-remove-intro = { $name } will keep what they already have, but will not see anything written from now on, and can no longer change this journal. To let them back in, you would send a new invite.
share-remove-confirm = Yes, remove { $name } from this journal
share-remove-confirm-error = Tick the box to remove them
share-remove-back = Back to sharing, without removing anyone
share-you-removed = You were removed from this journal. You keep what you had, but nothing new reaches this device.
share-owner-only = Only the journal's owner invites and removes people.
share-invite = Invite someone
share-invite-intro = You get a link that works once. Give it to them privately: anyone with it can join.
share-pending = Invites not used yet
share-pending-hint = Each link works once, until it expires. Withdraw one that went to the wrong person, or is no longer needed: its link stops working.
share-col-expires = Works until
share-expires-at = { $time } UTC
share-withdraw = Withdraw
share-name = Their name
share-name-missing = Enter the name of the person you are inviting.
share-as = They are the
share-access = What they can do
access-owner = owner
access-editor = read and write
access-viewer = read only
share-expires = The link works for
expires-hour = one hour
expires-day = one day
expires-week = one week
share-create = Create the invite link
share-link-for = Invite link for { $name }
share-link-how = Copy this link, or let them scan the code from their device.
share-qr = QR code of the invite link
share-registered = The relay knows this invite: it works from now.
share-not-registered = The relay could not be reached: the link works once this device has synced.

## Your data (a copy of everything: subject access)
data-title = Your data
data-intro = You can save a copy of everything about you that is on this device. It is yours to keep, to read, or to give to someone you choose.
data-saved-title = Saved
data-saved-where = Your copy is in this folder:
data-saved-open = Open the file index.html in that folder. It explains every file, and it opens without the internet.
data-what-title = What the copy holds
data-what-journals = Every journal on this device, in full: readings (drafts too), scores, notes, sign-offs, the action plan and every change made, as files a computer or a person can read.
data-what-people = Who shares each journal, and the invitations this device handed out.
data-what-device = Your name and this device's public key (never its secret key), and the relays it syncs with.
data-not-relay = What the relay holds about each journal is in the copy too: how much it stores, and which devices it sent the journal to or took changes from, signed by the relay. The relay cannot read your journals.
data-where = Copies are saved in a new folder inside:
data-save = Save a copy of everything
data-keep-safe = The copy holds health information. Keep it somewhere safe, and delete it when you no longer need it.

rights-title = Your rights over this journal
access-title = Who has looked at this journal
access-intro = The relay that syncs this journal keeps a log of which devices sent it changes and which fetched them, hour by hour. It signs the log it gives you, so it cannot deny what it says. It cannot read the journal itself.
access-stored = The relay stores { $changes } encrypted { $changes ->
    [one] change
   *[other] changes
  } of this journal. It gave this log on { $when }.
access-none = Nobody has sent or fetched anything yet.
access-table = What the relay saw, newest first
access-when = When
access-you = You (this device)
access-who = Who
access-what = What they did
access-sent = sent { $count } { $count ->
    [one] change
   *[other] changes
  }
access-fetched = fetched { $count } { $count ->
    [one] change
   *[other] changes
  }
access-membership = changed who is in the journal ({ $count })
access-unknown-title = Someone outside the journal
access-unknown = The relay says it served this journal to a device the journal never let in. The journal is encrypted, so they could not read it without a member's keys. Tell the organisation that runs the relay.
access-unreachable = The relay could not be reached, so it could not say who has looked. This is normal when you are offline: try again later.
access-back = Back to export and print
when-utc = { $day } { $date } { $time } UTC
day-mon = Mon
day-tue = Tue
day-wed = Wed
day-thu = Thu
day-fri = Fri
day-sat = Sat
day-sun = Sun
erase-copy-first = Before you do, you can save a copy of everything.
delete-title = Delete this journal
delete-intro = Deleting removes the journal for everyone: from the relay at once, from this device, and from every other member's device the next time it syncs. It cannot be undone.
delete-confirm = I understand that this deletes the journal for everyone, and that it cannot be undone
delete-confirm-error = Tick the box to confirm that you want to delete the journal
delete-button = Delete this journal
leave-title = Leave this journal
leave-intro = Leaving takes you out of the journal and removes it from this device. The others keep it and see that you left. You can only come back if someone invites you again.
leave-confirm = I understand that this removes the journal from this device
leave-confirm-error = Tick the box to confirm that you want to leave the journal
leave-button = Leave this journal

## Your devices
devices-title = Your devices
devices-intro = You can use Starling on more than one device: a phone and a laptop, say. Each of them is you, in every journal you are in.
devices-table = The devices your journals know as yours
devices-device = Device
devices-journals = In your journals
devices-actions = Actions
devices-this = this device
devices-joined-first = Your first device
devices-joined-linked = Linked from device { $device }
devices-joined-linked-here = Linked from this device
devices-joined-recovered = Set up with your recovery code
devices-link-qr = QR code of the device link
devices-recovered-warning = Device { $device } was set up with your recovery code. If that was not you, someone has your code: remove that device below, then make a new recovery code.
devices-refused = This device cannot do that
devices-in = in { $count } of { $total }
devices-remove = Remove
devices-back = Back to your devices
devices-link-title = Add a new device
devices-link-intro = Make a link here, then open Starling on the new device and choose "Add this device with a link".
devices-link-button = Make a link
devices-link-how = On the new device, open Starling, choose "Add this device with a link", and paste this link. It works once, for 15 minutes.
devices-link-label = The link
devices-link-warning = Anyone who has this link becomes you in your journals until it is used. Only copy it to your own device.
devices-link-unsynced = The relay could not be reached just now. The link works after this device next syncs.
devices-recovery-title = Your recovery code
devices-recovery-status = Your recovery code is set in { $count } of your { $total } journals.
devices-recovery-intro = If you lose all your devices, your recovery code gets you and your journals back on a new one. Starling shows it only once. If you have lost it, make a new one: the old one stops working.
devices-recovery-button = Make a new recovery code
devices-code-title = Your recovery code
devices-code-label = Recovery code
devices-code-first = This is your recovery code. If you lose this device, it gets you and your journals back on a new one.
devices-code-new = This is your new recovery code. The old one no longer works.
devices-code-recovered = Welcome back: your journals are here. The code you used is now used up, so here is your new one.
devices-code-removed = The device is removed from your journals, and anything written from now on is protected with a new key it doesn't have. It may have seen your recovery code, so here is a new one; the old one no longer works.
devices-code-removed-queued = The device is removed on this device; the relay could not be reached, so the others hear of it the next time this device syncs. It may have seen your recovery code, so here is a new one.
devices-code-once = Write it down and keep it somewhere safe, away from this device. Starling does not keep it and cannot show it again. Anyone who has it can become you.
devices-code-written = I have written it down
devices-remove-title = Remove a device
devices-remove-intro = Remove a device you have lost, or no longer use, from all your journals. It keeps what it already had, but it cannot read anything written from now on. Device:
devices-remove-confirm = Yes, remove this device from all my journals
devices-remove-confirm-error = Tick the box to remove the device
devices-remove-button = Remove the device
setup-other-title = Already use Starling?
setup-other-name = Your name, as in your journals (leave blank to use the name your journals know you by)
setup-other-intro = If this is another device of yours, or you have lost your device, you can bring your journals here.
setup-link-title = Add this device with a link
setup-link-label = Link from your other device
setup-link-hint = On your other device, go to "Your devices" and choose "Make a link". It starts with starling://device/
setup-link-button = Add this device
setup-recover-title = I have my recovery code
setup-recover-relay = Relay address
setup-recover-relay-hint = The relay your journals use, for example relay.example.org. Your care team can tell you.
setup-recover-relay-error = Enter the relay address
setup-recover-code = Recovery code
setup-recover-code-hint = 27 letters and numbers, in groups of four. Capitals or not, dashes or not.
setup-recover-button = Get my journals back
relays-title = Relays
relays-intro = A relay passes your journals' changes between devices, encrypted: it cannot read them. Your organisation, or your care team, runs it and tells you its address.
relays-none = This device has no journal yet, so it uses no relay.
relays-table = The relays your journals sync through
relays-journals = { $count ->
    [one] one journal on this device syncs through it
   *[other] { $count } journals on this device sync through it
}
relays-connected = Connected
relays-unreached = Can't be reached:
relays-not-tried = Not tried yet
relays-untrusted = { $relay } has a certificate from an authority this device doesn't trust yet, so nothing is sent to it. If your organisation gave you a certificate for its relay, add it below.
relays-untrusted-add = Add your organisation's certificate
relays-cas-title = Organisation certificates
relays-cas-intro = Relays on the internet usually need nothing here. An organisation that runs its relay with its own certificate authority gives you a certificate file to add. Only add one your organisation gave you: this device then trusts every relay whose certificate it signed.
relays-cas-none = This device trusts no organisation certificate, only the public ones.
relays-cas-table = Certificates this device trusts, besides the public ones
relays-ca-from = From
relays-ca-fingerprint = Fingerprint
relays-ca-added = Added
relays-ca-actions = Actions
relays-ca-remove = Remove
relays-ca-uploaded = an uploaded file
relays-ca-pasted = pasted text
relays-ca-gone = This device does not trust that certificate: it may have been removed already.
relays-add-title = Add a certificate
relays-add-file = Certificate file
relays-add-file-hint = The file your organisation gave you, often ending in .pem or .crt.
relays-add-paste = Or paste the certificate
relays-add-paste-hint = Its text, from the line -----BEGIN CERTIFICATE----- to the line -----END CERTIFICATE-----.
relays-add-button = Trust this certificate
relays-add-nothing = Choose the certificate file, or paste its text
relays-untrust-title = Remove a certificate
relays-untrust-what = This device stops trusting the certificate from { $from }. Relays whose certificates it signed can no longer be reached from this device until it is added again. Your journals stay on this device.
relays-untrust-confirm = Yes, stop trusting this certificate
relays-untrust-unticked = Tick the box to remove the certificate
relays-untrust-button = Remove the certificate
relays-back = Back to the relays, without changing anything
