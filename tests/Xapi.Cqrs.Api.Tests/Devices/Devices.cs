using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Devices;

/// <summary>A started VM on its host, with what its devices look like in xenstore.</summary>
public sealed record RunningVm(Pool Pool, Guid Host, PoolVm Vm, long Domid)
{
    public Guid Disk => Vm.Vbds[0];

    public Guid Vif => Vm.Vifs[0];

    /// <summary>The VBD frontend and backend of a disk position (0 → xvda, devid 51712) for a PV guest (§6.7).</summary>
    public (string Frontend, string Backend) VbdPaths(int position) =>
        ($"/local/domain/{Domid}/device/vbd/{(202 << 8) | (position << 4)}", $"/local/domain/0/backend/vbd/{Domid}/{(202 << 8) | (position << 4)}");

    /// <summary>The VIF frontend and backend of a device number (§6.7).</summary>
    public (string Frontend, string Backend) VifPaths(int device) =>
        ($"/local/domain/{Domid}/device/vif/{device}", $"/local/domain/0/backend/vif/{Domid}/{device}");
}

/// <summary>Requests and waits the device tests share (answers as JSON, problems through <see cref="ProblemAssertions"/>).</summary>
public static class DeviceRequests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A pool with one host and a VM (PV unless <paramref name="spec"/> says) with one RW disk and one VIF, started.</summary>
    public static async Task<RunningVm> RunningVmAsync(this HttpClient client, VmSpec? spec = null)
    {
        var pool = await Pool.CreateAsync(client, Ct);
        var host = await pool.HostAsync();
        var vm = await pool.VmAsync(spec ?? new VmSpec { DomainType = "pv" });
        var started = await (await client.PostAsync($"/api/vms/{vm.Id}/start", null, Ct)).ShouldBeOkAsync();
        started.GetProperty("powerState").GetString().ShouldBe("Running");
        return new RunningVm(pool, host, vm, started.GetProperty("domid").GetInt64());
    }

    /// <summary>POST without a body.</summary>
    public static Task<HttpResponseMessage> PostEmpty(this HttpClient client, string path) => client.PostAsync(path, null, Ct);

    /// <summary>POST without a body, expecting 200; the record answered.</summary>
    public static async Task<JsonElement> PostOk(this HttpClient client, string path) => (await (await client.PostEmpty(path)).ShouldBeOkAsync()).Clone();

    /// <summary>An async call's 202: its task id, checking the Location header.</summary>
    public static async Task<Guid> AcceptedTask(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, text);
        var task = JsonDocument.Parse(text).RootElement.GetProperty("taskId").GetGuid();
        response.Headers.Location!.ToString().ShouldBe($"/api/tasks/{task}");
        return task;
    }

    /// <summary>The task once finished: GET ?minVersion=2 waits on the server (bounded) until its end is recorded.</summary>
    public static async Task<JsonElement> FinishedTask(this HttpClient client, Guid task)
    {
        var record = await client.GetJson($"/api/tasks/{task}?minVersion=2");
        for (var attempt = 0; attempt < 12 && record.GetProperty("status").GetString() == "pending"; attempt++)
        {
            record = await client.GetJson($"/api/tasks/{task}?minVersion=2");
        }

        return record;
    }

    /// <summary>Whether a xenstore node exists on the host (GET …/xenstore answers 404 for a missing one).</summary>
    public static async Task<bool> XenstoreHas(this HttpClient client, Guid host, string path)
    {
        using var response = await client.GetAsync($"/api/hosts/{host}/hypervisor/xenstore?path={Uri.EscapeDataString(path)}", Ct);
        response.StatusCode.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.NotFound);
        return response.StatusCode == HttpStatusCode.OK;
    }

    /// <summary>The value of a xenstore node, or null.</summary>
    public static async Task<string?> XenstoreValue(this HttpClient client, Guid host, string path)
    {
        using var response = await client.GetAsync($"/api/hosts/{host}/hypervisor/xenstore?path={Uri.EscapeDataString(path)}", Ct);
        return response.StatusCode == HttpStatusCode.OK
            ? (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("value").GetString()
            : null;
    }

    public static async Task Fault(this HttpClient client, Guid host, object fault) =>
        (await client.PostAsJsonAsync($"/api/hosts/{host}/hypervisor/faults", fault, Ct)).StatusCode.ShouldBe(HttpStatusCode.OK);

    /// <summary>The ids of the VM's devices in its record.</summary>
    public static IReadOnlyList<Guid> Ids(this JsonElement vm, string devices) => [.. vm.GetProperty(devices).EnumerateArray().Select(v => v.GetGuid())];

    public static bool Attached(this JsonElement device) => device.GetProperty("currentlyAttached").GetBoolean();

    public static IReadOnlyList<string> AllowedOperations(this JsonElement device) =>
        [.. device.GetProperty("allowedOperations").EnumerateArray().Select(o => o.GetString()!)];
}
