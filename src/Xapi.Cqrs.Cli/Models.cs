namespace Xapi.Cqrs.Cli;

// Only what the CLI reads, camelCase on the wire (API.md "Reads"). Ids stay strings: the CLI shows
// them, it never computes with them. Unknown fields are ignored; vm-show renders the raw JSON instead
// so it shows every field, including ones added to the API later.

internal sealed record Host(
    string Id,
    string NameLabel,
    bool Enabled,
    bool Live,
    long MemoryTotal,
    long MemoryFree,
    int CpuCount,
    IReadOnlyList<string>? ResidentVms);

internal sealed record Vm(
    string Id,
    string NameLabel,
    string PowerState,
    string? ResidentOn,
    int VcpusMax,
    int VcpusAtStartup,
    long MemoryDynamicMin,
    long MemoryDynamicMax,
    long? Domid);

internal sealed record HistoryEntry(
    long Seq,
    string Stream,
    long Version,
    string Type,
    DateTimeOffset At,
    string? Actor,
    string? CorrelationId);

internal sealed record Vdi(string Id, string NameLabel);

internal sealed record Vbd(
    string Id,
    string Vm,
    string? Vdi,
    string Userdevice,
    string? Device,
    string Mode,
    string Type,
    bool CurrentlyAttached);

internal sealed record Vif(
    string Id,
    string Vm,
    string? Network,
    string Device,
    string? Mac,
    bool CurrentlyAttached);

/// <summary>201 {id, version} of a create.</summary>
internal sealed record Created(string Id);

internal sealed record StartBody(bool Paused);

internal sealed record StartOnBody(string Host, bool Paused);

/// <summary>POST /api/vms/{id}/vbds: userdevice is a position ("0", "1", …) or "autodetect", as in xapi.</summary>
internal sealed record VbdBody(string VdiId, string Userdevice, string Mode, string Type, bool Plug);

internal sealed record Network(string Id, string NameLabel);

/// <summary>202 {taskId} of a command sent with ?async=true, or of a projection rebuild.</summary>
internal sealed record Accepted(string TaskId);

/// <summary>GET /api/tasks/{id}: errorInfo is [code, params…] as xapi reports it; version grows with every change (for ?minVersion=).</summary>
internal sealed record TaskView(
    string Id,
    string Name,
    string Status,
    double Progress,
    string? Step,
    DateTimeOffset Created,
    DateTimeOffset? Finished,
    string? Result,
    IReadOnlyList<string>? ErrorInfo,
    long Version)
{
    public bool IsPending => Status == "pending";
}

/// <summary>A refusal as the API reports it inside an answer (a host's failed check): xapi's code and params.</summary>
internal sealed record Refusal(string Code, IReadOnlyList<string>? Params);

/// <summary>One host a placement weighed: its category value, or the check it failed.</summary>
internal sealed record Candidate(string Host, string? NameLabel, string? Category, long? Value, Refusal? Refused);

/// <summary>POST /api/vms/{id}/start?dryRun=true: the decision a start would take now.</summary>
internal sealed record Preview(string Host, long Seed, string? Category, long MemoryRequired, IReadOnlyList<Candidate> Candidates);

internal sealed record Actor(string? Subject, string? Role);

internal sealed record ExplainStep(string Type, DateTimeOffset At, double? DurationMs);

internal sealed record ExplainOutcome(string Status, string? Code, IReadOnlyList<string>? Params, DateTimeOffset? At);

internal sealed record ExplainReplay(bool Reproduced, string? Host, string? Note);

/// <summary>One start of a VM as GET /api/vms/{id}/history/explain tells it.</summary>
internal sealed record ExplainStart(
    string TaskId,
    string? Operation,
    DateTimeOffset RequestedAt,
    Actor? Actor,
    string? CorrelationId,
    string? RequestedHost,
    bool Paused,
    long? Seed,
    long? MemoryRequired,
    string? Category,
    IReadOnlyList<Candidate>? Candidates,
    string? ChosenHost,
    IReadOnlyList<ExplainStep>? Steps,
    ExplainOutcome? Outcome,
    ExplainReplay? Replay);

internal sealed record Explanation(string Vm, IReadOnlyList<ExplainStart> Starts);

/// <summary>GET /api/admin/projections: one read model and how far it has come.</summary>
internal sealed record Projection(string Name, string? Kind, long Position, long HighWaterMark, long Lag, string? Status, long? Version, long? Documents = null);

/// <summary>The result of a rebuild task on success (a JSON string in the task's result).</summary>
internal sealed record RebuildResult(long Documents, long Events, double Seconds, double? EventsPerSecond = null);

internal sealed record Message(string Id, string Name, long Priority, string? Class, string? ObjUuid, DateTimeOffset Timestamp, string? Body);

internal sealed record OpenOperation(string Class, string Id, string Op, string? TaskId, DateTimeOffset Since, double AgeSeconds);

internal sealed record TokenBody(string Subject, string Role);

internal sealed record TokenCreated(string Token, string Subject, string Role);

internal sealed record VifBody(string NetworkId, string Device, string? Mac, long? Mtu);

/// <summary>One event of the log as GET /api/events/stream sends it (the data: line of a server-sent event).</summary>
internal sealed record LogEvent(long Seq, string Stream, long Version, string Type, DateTimeOffset At, string? Actor, string? CorrelationId, System.Text.Json.JsonElement Data);
