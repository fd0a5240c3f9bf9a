// The settings page's "Allow browser notifications" button (static/js/notifications.js).
import { permissionControl } from "./notifications.js";

permissionControl(document.getElementById("notify-permission"), document.getElementById("notify-permission-state"));
