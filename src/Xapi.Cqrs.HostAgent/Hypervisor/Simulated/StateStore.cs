using System.Text.Json;
using System.Text.Json.Serialization;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// A simulated host's state on disk, in its own directory:
/// <list type="bullet">
/// <item><c>domains/&lt;vm-uuid&gt;.json</c>: one small file per domain (<see cref="DomainRecord"/>), rewritten after
/// every change of that domain and deleted when it is destroyed, so a start costs a few writes of one file and no
/// write grows with the number of domains;</item>
/// <item><c>host.json</c>: the domid and device-minor counters (<see cref="HostRecord"/>), written when a domain is
/// destroyed (a create's domid is in its own file).</item>
/// </list>
/// Every file is written whole to <c>&lt;name&gt;.tmp</c> and renamed over the old one (atomic on POSIX), so a process
/// killed at any moment leaves each file as it was before or after the change; a leftover <c>.tmp</c> is a torn write
/// and is deleted at load. There is no fsync: the state survives the service's death (SIGKILL included), not the
/// machine's; a power cut would have killed a real host's domains too. A file that cannot be read at load is renamed
/// <c>.corrupt</c> and its domain is not loaded. Not thread-safe: the host calls it under its lock.
/// </summary>
internal sealed class StateStore
{
    private const string HostFileName = "host.json";
    private const string DomainsDirectory = "domains";
    private const string Extension = ".json";
    private const string TempSuffix = ".tmp";
    private const string CorruptSuffix = ".corrupt";

    private readonly string _domains;

    public StateStore(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
        _domains = Path.Combine(Root, DomainsDirectory);
        Directory.CreateDirectory(_domains);
    }

    public string Root { get; }

    public void SaveDomain(DomainRecord record) =>
        WriteAtomically(DomainFile(record.Spec.VmId), JsonSerializer.SerializeToUtf8Bytes(record, StateJson.Default.DomainRecord));

    public void DeleteDomain(Guid vmId) => File.Delete(DomainFile(vmId));

    public void SaveHost(HostRecord record) =>
        WriteAtomically(Path.Combine(Root, HostFileName), JsonSerializer.SerializeToUtf8Bytes(record, StateJson.Default.HostRecord));

    /// <summary>The counters, or null when none were saved (or the file is unreadable: then renamed <c>.corrupt</c>).</summary>
    public HostRecord? LoadHost()
    {
        DeleteTornWrites(Root);
        var path = Path.Combine(Root, HostFileName);
        return File.Exists(path) ? Read(path, StateJson.Default.HostRecord, r => r.Format == HostRecord.CurrentFormat) : null;
    }

    /// <summary>Every readable domain file, in no particular order; torn writes are deleted, unreadable files set aside.</summary>
    public List<DomainRecord> LoadDomains()
    {
        DeleteTornWrites(_domains);
        var records = new List<DomainRecord>();
        foreach (var path in Directory.EnumerateFiles(_domains, "*" + Extension))
        {
            var named = Guid.TryParse(Path.GetFileNameWithoutExtension(path), out var vmId);
            if (Read(path, StateJson.Default.DomainRecord, r => named && r.Format == DomainRecord.CurrentFormat && r.Spec.VmId == vmId) is { } record)
            {
                records.Add(record);
            }
        }

        return records;
    }

    /// <summary>Set a domain's file aside (renamed <c>.corrupt</c>) when its content cannot be restored.</summary>
    public void SetAside(Guid vmId) => SetAside(DomainFile(vmId));

    private string DomainFile(Guid vmId) => Path.Combine(_domains, vmId.ToString() + Extension);

    private static void WriteAtomically(string path, byte[] content)
    {
        var temp = path + TempSuffix;
        File.WriteAllBytes(temp, content);
        File.Move(temp, path, overwrite: true);
    }

    private static T? Read<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, Func<T, bool> valid)
        where T : class
    {
        try
        {
            if (JsonSerializer.Deserialize(File.ReadAllBytes(path), type) is { } value && valid(value))
            {
                return value;
            }
        }
        catch (JsonException)
        {
            // set aside below
        }

        SetAside(path);
        return null;
    }

    private static void SetAside(string path)
    {
        if (File.Exists(path))
        {
            File.Move(path, path + CorruptSuffix, overwrite: true);
        }
    }

    private static void DeleteTornWrites(string directory)
    {
        foreach (var temp in Directory.EnumerateFiles(directory, "*" + TempSuffix))
        {
            File.Delete(temp);
        }
    }
}

/// <summary>One domain as saved: everything the simulator knows of it, including its xenstore subtrees.</summary>
internal sealed record DomainRecord
{
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;

    public required DomainSpec Spec { get; init; }

    public required int Domid { get; init; }

    public required long Reserved { get; init; }

    public required long MemoryTarget { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>A <see cref="DomainStates"/> value.</summary>
    public required string State { get; init; }

    public ShutdownReason? Reason { get; init; }

    public bool Booted { get; init; }

    public BuildInfo? Build { get; init; }

    public DeviceModelInfo? DeviceModel { get; init; }

    /// <summary>VBDs then VIFs, each in plug order; a device whose plug had not completed has <c>Plugged</c> false.</summary>
    public IReadOnlyList<DeviceRecord> Devices { get; init; } = [];

    /// <summary>The domain's xenstore subtrees as [path, value] pairs, parents first.</summary>
    public IReadOnlyList<string[]> Xenstore { get; init; } = [];
}

internal sealed record DeviceRecord(Guid Id, string Kind, string BackendKind, int Devid, int Position, string Device, bool Empty, bool Plugged, int? Minor);

/// <summary>The host's counters: the next domid to try and the next block-device minor.</summary>
internal sealed record HostRecord(int Format, int NextDomid, int NextMinor)
{
    public const int CurrentFormat = 1;
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DomainRecord))]
[JsonSerializable(typeof(HostRecord))]
internal sealed partial class StateJson : JsonSerializerContext;
