<%--
  A page for poolwatch's tests, mapped to /async with async-supported (see web.xml):
  /async?seconds=S starts an asynchronous request (startAsync) that waits S seconds (at most
  300) on a thread of its own, none of the connector's, then answers and completes it: a
  request in flight that holds no connector thread while it waits.
--%><%@ page contentType="text/plain" session="false" %><%
double seconds = 1;
try {
    String s = request.getParameter("seconds");
    if (s != null) seconds = Math.min(Double.parseDouble(s), 300);
} catch (NumberFormatException e) {
    response.sendError(400, "seconds must be a number");
    return;
}
final long millis = (long) (seconds * 1000);
final jakarta.servlet.AsyncContext async = request.startAsync();
async.setTimeout(0); // the page completes the request itself
Thread waiter = new Thread(() -> {
    try {
        Thread.sleep(millis);
        async.getResponse().getWriter().write("ok\n");
    } catch (Exception e) {
        // The request ends all the same.
    } finally {
        async.complete();
    }
});
waiter.setDaemon(true);
waiter.start();
%>
