# Lo que el relé escribe a los clientes, en español. Un mensaje por línea de
# `relay::dialogue::Line` (su `key()`). START y STOP no se traducen: son las
# palabras que los operadores reservan para darse de alta y de baja.

ask-name = ¡Hola! Para ponerle en contacto con la persona adecuada, ¿cuál es su nombre?
ask-agent = Gracias, { $name }. ¿Cuál es la dirección de correo electrónico de la persona con la que desea hablar?
not-an-email = Eso no parece una dirección de correo electrónico. Envíe la dirección de correo de la persona con la que desea hablar.
please-wait = Espere mientras le ponemos en contacto…
initiated = Ya está en contacto con { $agent }. Escriba aquí y le responderá en este chat.
agent-not-found = Lo sentimos, no encontramos a nadie con esa dirección de correo, así que no pudimos ponerle en contacto. Compruébela y envíela de nuevo.
session-ended = Esta conversación ha terminado. Para empezar una nueva, responda { $restart }.
session-not-found = No encontramos ninguna conversación abierta para su mensaje. Responda { $restart } para empezar una.
idle-ended = Esta conversación ha terminado tras { $hours } horas sin mensajes. Para empezar una nueva, responda { $restart }.
opted-out = Se ha dado de baja y ya no recibirá más mensajes nuestros por aquí. Responda START para darse de alta de nuevo.
opted-in = Se ha dado de alta de nuevo y puede recibir mensajes nuestros por aquí. Responda STOP para darse de baja.
card-number-hidden = Por su seguridad, no envíe números de tarjeta por aquí. Lo hemos ocultado.
