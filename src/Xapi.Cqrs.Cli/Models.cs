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
