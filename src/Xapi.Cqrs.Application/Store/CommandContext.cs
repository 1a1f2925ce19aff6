namespace Xapi.Cqrs.Application.Store;

/// <summary>
/// Who asks and under which correlation id: set once per request (HTTP) or per unit of work (host
/// agent), and stamped on every event the request appends.
/// </summary>
public sealed class CommandContext
{
    public string Subject { get; set; } = "system";

    public string CorrelationId { get; set; } = Guid.NewGuid().ToString("N");

    public string? CausationId { get; set; }
}
