<%--
  A page for poolwatch's Tomcat example and tests: /slow.jsp?seconds=S holds its thread for S
  seconds (at most 300), or until the file named by the environment variable
  POOLWATCH_RELEASE exists, so that a test can occupy every thread and free them all at once.
--%><%@ page contentType="text/plain" %><%
double seconds = 1;
try {
    String s = request.getParameter("seconds");
    if (s != null) seconds = Math.min(Double.parseDouble(s), 300);
} catch (NumberFormatException e) {
    response.sendError(400, "seconds must be a number");
    return;
}
String release = System.getenv("POOLWATCH_RELEASE");
long deadline = System.nanoTime() + (long) (seconds * 1e9);
while (System.nanoTime() < deadline && !(release != null && new java.io.File(release).exists())) {
    Thread.sleep(50);
}
%>ok
