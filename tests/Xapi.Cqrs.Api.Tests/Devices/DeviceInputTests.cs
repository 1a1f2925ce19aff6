using System.Net;
using System.Text;
using Shouldly;
using Xapi.Cqrs.Api.Tests.Fixtures;
using Xapi.Cqrs.Api.Tests.Vms;

namespace Xapi.Cqrs.Api.Tests.Devices;

/// <summary>
/// Bad input on the device endpoints: malformed JSON, wrong types, invalid UUIDs, unknown ids and a role too weak
/// answer 4xx problem+json — never a 500 — and write nothing.
/// </summary>
public sealed class DeviceInputTests(XapiServer server) : IClassFixture<XapiServer>
{
    private readonly CancellationToken ct = TestContext.Current.CancellationToken;

    private Task<HttpResponseMessage> PostRaw(HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), ct);

    [Fact]
    public async Task Attach_with_malformed_json_or_a_wrong_typed_plug_is_invalid_value_and_creates_nothing()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var vdi = await s.Pool.VdiAsync();
        var version = (await client.GetJson($"/api/vms/{s.Vm.Id}")).GetProperty("version").GetInt64();

        (await (await PostRaw(client, $"/api/vms/{s.Vm.Id}/vbds", """{"userdevice": "1", "plug": tru""")).ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE"))
            .Params()[0].ShouldBe("body");
        (await (await PostRaw(client, $"/api/vms/{s.Vm.Id}/vbds", $$"""{"vdiId": "{{vdi}}", "userdevice": "1", "mode": "RW", "type": "Disk", "plug": "yes"}"""))
            .ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE")).Params()[0].ShouldBe("plug");
        (await (await PostRaw(client, $"/api/vms/{s.Vm.Id}/vbds", """{"vdiId": "not-a-uuid", "userdevice": "1", "mode": "RW", "type": "Disk", "plug": true}"""))
            .ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE")).Params()[0].ShouldBe("vdiId");
        await (await client.Post($"/api/vms/{s.Vm.Id}/vbds", new { vdiId = vdi, userdevice = "1", mode = "rw", type = "Disk", plug = true }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "VALUE_NOT_SUPPORTED", "mode", "rw", "one of RO, RW");
        await (await client.Post($"/api/vms/{s.Vm.Id}/vbds", new { vdiId = vdi, userdevice = "xyz", mode = "RW", type = "Disk", plug = true }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_DEVICE", "xyz");
        await (await client.Post($"/api/vms/{s.Vm.Id}/vbds", new { userdevice = "1", mode = "RW", type = "Disk", empty = true, plug = true }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "VBD_NOT_REMOVABLE_MEDIA", "in constructor");

        (await client.GetJson($"/api/vms/{s.Vm.Id}")).GetProperty("version").GetInt64().ShouldBe(version);
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Attach_to_an_unknown_vm_or_vdi_is_handle_invalid()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var (vm, vdi) = (Guid.NewGuid(), Guid.NewGuid());

        await (await client.Post($"/api/vms/{vm}/vbds", new { vdiId = s.Vm.Vdis[0], userdevice = "1", mode = "RW", type = "Disk", plug = true }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VM", vm.ToString());
        await (await client.Post($"/api/vms/{s.Vm.Id}/vbds", new { vdiId = vdi, userdevice = "1", mode = "RW", type = "Disk", plug = true }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", "VDI", vdi.ToString());
        (await client.GetJson($"/api/vms/{s.Vm.Id}")).Ids("vbds").ShouldBe(s.Vm.Vbds);
    }

    [Theory]
    [InlineData("/api/vbds/{0}/plug", "VBD")]
    [InlineData("/api/vbds/{0}/unplug", "VBD")]
    [InlineData("/api/vbds/{0}/detach", "VBD")]
    [InlineData("/api/vifs/{0}/plug", "VIF")]
    [InlineData("/api/vifs/{0}/unplug", "VIF")]
    public async Task Unknown_device_is_handle_invalid(string path, string objectClass)
    {
        using var client = server.Client();
        var id = Guid.NewGuid();

        await (await client.PostEmpty(string.Format(System.Globalization.CultureInfo.InvariantCulture, path, id)))
            .ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", objectClass, id.ToString());
        await (await client.DeleteAsync($"/api/{objectClass.ToLowerInvariant()}s/{id}", ct))
            .ShouldBeProblem(HttpStatusCode.NotFound, "HANDLE_INVALID", objectClass, id.ToString());
    }

    [Theory]
    [InlineData("/api/vbds/not-a-uuid/plug")]
    [InlineData("/api/vbds/12345/unplug")]
    [InlineData("/api/vbds/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/detach")]
    [InlineData("/api/vifs/not-a-uuid/plug")]
    [InlineData("/api/vifs/not-a-uuid/unplug")]
    public async Task Invalid_uuid_is_a_problem_not_a_500(string path)
    {
        using var client = server.Client();

        var response = await client.PostEmpty(path);

        ((int)response.StatusCode).ShouldBeInRange(400, 499);
        await response.ShouldBeProblemWithCode(response.StatusCode, response.StatusCode == HttpStatusCode.NotFound ? "HANDLE_INVALID" : "INVALID_VALUE");
        ((int)(await client.DeleteAsync("/api/vbds/not-a-uuid", ct)).StatusCode).ShouldBeInRange(400, 499);
    }

    [Fact]
    public async Task Empty_uuid_is_invalid_value()
    {
        using var client = server.Client();

        await (await client.PostEmpty($"/api/vbds/{Guid.Empty}/plug")).ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "VBD", Guid.Empty.ToString());
        await (await client.PostEmpty($"/api/vifs/{Guid.Empty}/unplug")).ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "VIF", Guid.Empty.ToString());
        await (await client.DeleteAsync($"/api/vbds/{Guid.Empty}", ct)).ShouldBeProblem(HttpStatusCode.BadRequest, "INVALID_VALUE", "VBD", Guid.Empty.ToString());
    }

    [Fact]
    public async Task Unplug_or_detach_with_malformed_json_is_invalid_value_and_writes_nothing()
    {
        using var client = server.Client();
        var s = await client.RunningVmAsync();
        var version = (await client.GetJson($"/api/vbds/{s.Disk}")).GetProperty("version").GetInt64();

        foreach (var path in new[] { $"/api/vbds/{s.Disk}/unplug", $"/api/vbds/{s.Disk}/detach", $"/api/vifs/{s.Vif}/unplug" })
        {
            (await (await PostRaw(client, path, "{not json")).ShouldBeProblemWithCode(HttpStatusCode.BadRequest, "INVALID_VALUE")).Params()[0].ShouldBe("body");
        }

        (await client.GetJson($"/api/vbds/{s.Disk}")).GetProperty("version").GetInt64().ShouldBe(version);
        (await client.GetJson($"/api/vbds/{s.Disk}")).Attached().ShouldBeTrue();
        (await PostRaw(client, $"/api/vbds/{s.Disk}/unplug", "{}")).StatusCode.ShouldBe(HttpStatusCode.OK, "an empty JSON object is no parameter at all");
        await s.Pool.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task Read_only_role_may_not_plug_or_destroy()
    {
        var s = await server.Client().RunningVmAsync();
        using var reader = await server.ClientWithRole("read-only");

        await (await reader.PostEmpty($"/api/vbds/{s.Disk}/unplug")).ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "VBD.unplug", "read-only");
        await (await reader.DeleteAsync($"/api/vifs/{s.Vif}", ct)).ShouldBeProblem(HttpStatusCode.Forbidden, "RBAC_PERMISSION_DENIED", "VIF.destroy", "read-only");
        (await reader.GetJson($"/api/vbds/{s.Disk}")).Attached().ShouldBeTrue();
    }
}
