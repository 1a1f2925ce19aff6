using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// A simulated host's state on disk, in its own directory: each domain in a slot of its own,
/// <c>domains/&lt;n&gt;.a</c> and <c>domains/&lt;n&gt;.b</c> (<see cref="DomainRecord"/>), written after every change of
/// that domain and freed when it is destroyed (a free slot is reused by the next domain), and the host's counters in
/// <c>host.a</c>/<c>host.b</c> (<see cref="HostRecord"/>), written when a domain is destroyed (a create's domid is in its
/// own record). So a start costs a few small writes and no write grows with the number of domains.
/// <para>
/// Crash safety without rename: the two files of a slot are written in turn, in place, each write a whole frame
/// <c>xsim 1 &lt;sequence&gt; &lt;length&gt; &lt;sha-256&gt;\n&lt;JSON&gt;</c>. A process killed at any moment can tear only
/// the file being written; the other one still holds the previous frame, and loading takes, per slot, the frame with
/// the highest sequence whose length and hash check out (an empty payload is a free slot). Writing in place costs a
/// few microseconds where creating, truncating or renaming over a file makes ext4 allocate and flush (0.2–1.3 ms a
/// write on this machine's disk). There is no fsync: the state survives the service's death (SIGKILL included), not
/// the machine's; a power cut would have killed a real host's domains too.
/// </para>
/// Not thread-safe: the host calls it under its lock, and loads before it saves.
/// </summary>
internal sealed class StateStore
{
    private const string Magic = "xsim";
    private const int FrameVersion = 1;
    private const string DomainsDirectory = "domains";
    private const string HostSlot = "host";
    private const string CorruptSuffix = ".corrupt";
    private static readonly string[] Sides = [".a", ".b"];

    private readonly string _domains;
    private readonly Dictionary<Guid, int> _slotOf = [];
    private readonly Dictionary<string, int> _lastSide = new(StringComparer.Ordinal);
    private readonly SortedSet<int> _free = [];
    private long _sequence = 1;
    private int _nextSlot;

    public StateStore(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
        _domains = Path.Combine(Root, DomainsDirectory);
        Directory.CreateDirectory(_domains);
    }

    public string Root { get; }

    public void SaveDomain(DomainRecord record)
    {
        if (!_slotOf.TryGetValue(record.Spec.VmId, out var slot))
        {
            slot = _free.Count > 0 ? _free.Min : _nextSlot++;
            _free.Remove(slot);
            _slotOf.Add(record.Spec.VmId, slot);
        }

        Write(SlotPath(slot), JsonSerializer.SerializeToUtf8Bytes(record, StateJson.Default.DomainRecord));
    }

    /// <summary>Free the domain's slot (an empty frame); nothing when it has none.</summary>
    public void DeleteDomain(Guid vmId)
    {
        if (_slotOf.Remove(vmId, out var slot))
        {
            Write(SlotPath(slot), []);
            _free.Add(slot);
        }
    }

    public void SaveHost(HostRecord record) =>
        Write(Path.Combine(Root, HostSlot), JsonSerializer.SerializeToUtf8Bytes(record, StateJson.Default.HostRecord));

    /// <summary>The counters, or null when none were saved or none can be read.</summary>
    public HostRecord? LoadHost()
    {
        var (payload, _) = ReadSlot(Path.Combine(Root, HostSlot));
        return payload is { Length: > 0 } && Deserialize(payload, StateJson.Default.HostRecord) is { Format: HostRecord.CurrentFormat } host
            ? host
            : null;
    }

    /// <summary>The domain of every slot in use (its newest readable frame); unreadable slots are set aside and freed.</summary>
    public List<DomainRecord> LoadDomains()
    {
        var slots = Directory.EnumerateFiles(_domains)
            .Select(path => Path.GetFileName(path))
            .Where(name => Sides.Any(side => name.EndsWith(side, StringComparison.Ordinal)))
            .Select(name => int.TryParse(name[..^2], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1)
            .Where(n => n >= 0)
            .Distinct()
            .Order()
            .ToList();
        _nextSlot = slots.Count > 0 ? slots[^1] + 1 : 0;
        var records = new List<DomainRecord>();
        foreach (var slot in slots)
        {
            var (payload, path) = ReadSlot(SlotPath(slot));
            if (payload is not { Length: > 0 })
            {
                _free.Add(slot); // free, or never completely written
                continue;
            }

            if (Deserialize(payload, StateJson.Default.DomainRecord) is { Format: DomainRecord.CurrentFormat, Spec: not null } record
                && _slotOf.TryAdd(record.Spec.VmId, slot))
            {
                records.Add(record);
                continue;
            }

            File.Copy(path!, path + CorruptSuffix, overwrite: true);
            Write(SlotPath(slot), []);
            _free.Add(slot);
        }

        return records;
    }

    /// <summary>Set a loaded domain aside (its frame copied to <c>.corrupt</c>) and free its slot, when it cannot be restored.</summary>
    public void SetAside(Guid vmId)
    {
        if (_slotOf.TryGetValue(vmId, out var slot) && _lastSide.TryGetValue(SlotPath(slot), out var side))
        {
            var path = SlotPath(slot) + Sides[side];
            File.Copy(path, path + CorruptSuffix, overwrite: true);
        }

        DeleteDomain(vmId);
    }

    private string SlotPath(int slot) => Path.Combine(_domains, slot.ToString(CultureInfo.InvariantCulture));

    /// <summary>Write a frame into the side of the slot that does not hold its newest frame, in place.</summary>
    private void Write(string slot, byte[] payload)
    {
        var side = _lastSide.TryGetValue(slot, out var last) ? 1 - last : 0;
        var frame = Frame(_sequence++, payload);
        using (var handle = File.OpenHandle(slot + Sides[side], FileMode.OpenOrCreate, FileAccess.Write))
        {
            RandomAccess.Write(handle, frame, 0);
        }

        _lastSide[slot] = side;
    }

    /// <summary>The payload of the slot's newest valid frame (null when neither side has one) and the file it is in.</summary>
    private (byte[]? Payload, string? Path) ReadSlot(string slot)
    {
        (long Sequence, byte[] Payload, int Side)? best = null;
        for (var side = 0; side < Sides.Length; side++)
        {
            var path = slot + Sides[side];
            if (File.Exists(path) && Unframe(File.ReadAllBytes(path)) is { } frame && frame.Sequence >= (best?.Sequence ?? 0))
            {
                best = (frame.Sequence, frame.Payload, side);
            }
        }

        if (best is not { } found)
        {
            return (null, null);
        }

        _sequence = Math.Max(_sequence, found.Sequence + 1);
        _lastSide[slot] = found.Side;
        return (found.Payload, slot + Sides[found.Side]);
    }

    private static byte[] Frame(long sequence, byte[] payload)
    {
        var header = Encoding.ASCII.GetBytes(string.Create(
            CultureInfo.InvariantCulture, $"{Magic} {FrameVersion} {sequence} {payload.Length} {Convert.ToHexString(SHA256.HashData(payload))}\n"));
        return [.. header, .. payload];
    }

    /// <summary>The frame at the start of a file's content, or null when it is torn, foreign or damaged (trailing bytes are ignored).</summary>
    private static (long Sequence, byte[] Payload)? Unframe(byte[] content)
    {
        var end = Array.IndexOf(content, (byte)'\n');
        if (end < 0)
        {
            return null;
        }

        var fields = Encoding.ASCII.GetString(content, 0, end).Split(' ');
        if (fields is not [Magic, var version, var sequenceText, var lengthText, var hash]
            || version != FrameVersion.ToString(CultureInfo.InvariantCulture)
            || !long.TryParse(sequenceText, NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
            || !int.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            || length > content.Length - end - 1)
        {
            return null;
        }

        var payload = content.AsSpan(end + 1, length).ToArray();
        return Convert.ToHexString(SHA256.HashData(payload)) == hash ? (sequence, payload) : null;
    }

    private static T? Deserialize<T>(byte[] payload, JsonTypeInfo<T> type)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(payload, type);
        }
        catch (JsonException)
        {
            return null;
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
