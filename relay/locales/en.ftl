# What the relay writes to customers, in English. One message per line of
# `relay::dialogue::Line` (its `key()`); `{ $name }` etc. are filled in.
# START and STOP stay in English in every language: they are the words
# carriers reserve for opting in and out, and the dialogue's word for a new
# conversation.

ask-name = Hello! To connect you with the right person, what is your name?
ask-agent = Thanks, { $name }. What is the email address of the person you would like to talk to?
not-an-email = That does not look like an email address. Please send the email address of the person you would like to talk to.
please-wait = Please wait while we connect you…
initiated = You are now connected with { $agent }. Write here and they will answer in this chat.
agent-not-found = Sorry, we could not find anyone with that email address, so we could not connect you. Please check it and send it again.
session-ended = This conversation has ended. To start a new one, reply { $restart }.
session-not-found = We could not find an open conversation for your message. Reply { $restart } to start one.
idle-ended = This conversation has ended after { $hours } hours without messages. To start a new one, reply { $restart }.
opted-out = You have unsubscribed and will get no more messages from us here. Reply START to subscribe again.
opted-in = You have subscribed again and can get messages from us here. Reply STOP to unsubscribe.
card-number-hidden = For your security, please don't send card numbers here. We have hidden it.
