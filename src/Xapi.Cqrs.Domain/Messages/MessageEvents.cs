namespace Xapi.Cqrs.Domain.Messages;

/// <summary>§9: an xapi message (e.g. VM_STARTED, priority 5, class VM), one stream per message.</summary>
public sealed record MessageCreated(Guid MessageId, string Name, long Priority, string Class, Guid ObjUuid, string Body, DateTimeOffset Timestamp);

public static class MessageNames
{
    public const string VmStarted = "VM_STARTED";

    public const string VmShutdown = "VM_SHUTDOWN";

    public const string VmRebooted = "VM_REBOOTED";

    public const string VmCrashed = "VM_CRASHED";

    public const string VmPaused = "VM_PAUSED";

    public const string VmUnpaused = "VM_UNPAUSED";

    /// <summary>The body of a lifecycle message: "VM '&lt;name&gt;' (uuid: …) &lt;what&gt; on host: &lt;host&gt; (uuid: …)".</summary>
    public static string VmBody(string what, string vmName, Guid vm, string hostName, Guid host) =>
        $"VM '{vmName}' (uuid: {vm}) {what} on host: {hostName} (uuid: {host})";

    /// <summary>§9 body text: "VM '&lt;name&gt;' (uuid: …) started on host: &lt;host&gt; (uuid: …)".</summary>
    public static string VmStartedBody(string vmName, Guid vm, string hostName, Guid host) =>
        $"VM '{vmName}' (uuid: {vm}) started on host: {hostName} (uuid: {host})";
}
