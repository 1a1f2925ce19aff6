using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;

namespace Xapi.Cqrs.Api.Tests.Fixtures;

/// <summary>
/// Inventory through the HTTP API with sensible defaults, so a test names only what matters to it:
/// a VM has 2 vCPUs, 1 GiB in all four memory fields and domain type hvm; a host has 16 GiB and 8 CPUs
/// and sees a network and an SR created for it unless given some.
/// </summary>
public static class InventoryRequests
{
    public const long GiB = 1L << 30;
    public const long MiB = 1L << 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>POSTs <paramref name="body"/> as JSON.</summary>
    public static Task<HttpResponseMessage> Post(this HttpClient client, string path, object body) =>
        client.PostAsJsonAsync(path, body, Ct);

    /// <summary>GETs <paramref name="path"/>, expecting 200, and answers its JSON body.</summary>
    public static async Task<JsonElement> GetJson(this HttpClient client, string path)
    {
        using var response = await client.GetAsync(path, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>The id of a 201 answer (failing the test, with the body, on anything else).</summary>
    public static async Task<Guid> CreatedId(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetGuid();
    }

    public static async Task<Guid> CreateNetwork(this HttpClient client, string nameLabel = "network", string? bridge = null)
    {
        using var response = await client.Post("/api/networks", new { nameLabel, bridge });
        return await response.CreatedId();
    }

    public static async Task<Guid> CreateSr(this HttpClient client, string nameLabel = "sr", bool shared = true)
    {
        using var response = await client.Post("/api/srs", new { nameLabel, shared });
        return await response.CreatedId();
    }

    public static async Task<Guid> CreateVdi(this HttpClient client, Guid? srId = null, string nameLabel = "disk", long virtualSize = 10 * GiB, bool readOnly = false)
    {
        var sr = srId ?? await client.CreateSr();
        using var response = await client.Post("/api/vdis", new { srId = sr, nameLabel, virtualSize, readOnly, sharable = false });
        return await response.CreatedId();
    }

    /// <summary>A host body: 16 GiB, 8 CPUs, HVM-capable, simulated; <paramref name="with"/> overrides or adds fields.</summary>
    public static Dictionary<string, object?> HostBody(Guid[] networks, Guid[] srs, params (string Key, object? Value)[] with)
    {
        var body = new Dictionary<string, object?>
        {
            ["nameLabel"] = "host",
            ["address"] = "10.0.0.1",
            ["memoryTotal"] = 16 * GiB,
            ["memoryOverhead"] = 512 * MiB,
            ["cpuCount"] = 8,
            ["hvmCapable"] = true,
            ["networks"] = networks,
            ["srs"] = srs,
            ["hypervisor"] = "simulated",
        };
        foreach (var (key, value) in with)
        {
            body[key] = value;
        }

        return body;
    }

    public static async Task<Guid> CreateHost(this HttpClient client, Guid[]? networks = null, Guid[]? srs = null, string nameLabel = "host")
    {
        networks ??= [await client.CreateNetwork()];
        srs ??= [await client.CreateSr()];
        using var response = await client.Post("/api/hosts", HostBody(networks, srs, ("nameLabel", nameLabel)));
        return await response.CreatedId();
    }

    /// <summary>A VM body: 2 vCPUs, 1 GiB in all four memory fields, hvm; <paramref name="with"/> overrides or adds fields.</summary>
    public static Dictionary<string, object?> VmBody(params (string Key, object? Value)[] with)
    {
        var body = new Dictionary<string, object?>
        {
            ["nameLabel"] = "vm",
            ["vcpusMax"] = 2,
            ["vcpusAtStartup"] = 2,
            ["memoryStaticMin"] = GiB,
            ["memoryDynamicMin"] = GiB,
            ["memoryDynamicMax"] = GiB,
            ["memoryStaticMax"] = GiB,
            ["domainType"] = "hvm",
        };
        foreach (var (key, value) in with)
        {
            body[key] = value;
        }

        return body;
    }

    public static async Task<Guid> CreateVm(this HttpClient client, params (string Key, object? Value)[] with)
    {
        using var response = await client.Post("/api/vms", VmBody(with));
        return await response.CreatedId();
    }

    public static async Task<Guid> CreateVbd(this HttpClient client, Guid vm, Guid? vdi, string userdevice = "0", string mode = "RW", string type = "Disk", bool empty = false)
    {
        using var response = await client.Post($"/api/vms/{vm}/vbds", new { vdiId = vdi, userdevice, mode, type, bootable = true, empty });
        return await response.CreatedId();
    }

    public static async Task<Guid> CreateVif(this HttpClient client, Guid vm, Guid network, string device = "0", string? mac = null)
    {
        using var response = await client.Post($"/api/vms/{vm}/vifs", new { networkId = network, device, mac });
        return await response.CreatedId();
    }
}
