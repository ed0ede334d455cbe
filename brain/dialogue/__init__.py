"""Dialogue: the domain, rules, tracker and the engine that runs a turn.

Where things live:
    domain.py / domain_reader.py   domain.yml as typed values, and reading it
    rules.py / rule_matching.py    rules.yml, and which rule step comes next
    tracker.py / events.py         the conversation's event log and derived state
    engine.py                      one turn: precedence, fallback stages, handoff
    forms.py / slot_filling.py     forms, slot mappings and slot types
    responses.py                   variations, placeholders, channel variants
    retrieval.py                   utter_faq: the selected sub-intent's response
    action_runner.py               custom actions and validators, failure-safe
    session.py                     session expiry and carried-over slots
"""
