-- Shared by the three fleetlaps kinds. Argo CD health check: obj is the live object.
local function condition(obj, t)
  if obj.status == nil or obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then return c end
  end
  return nil
end

local function health(obj)
  local hs = {}
  if obj.status == nil or obj.status.conditions == nil then
    hs.status = "Progressing"
    hs.message = "Waiting for the fleetlaps controller"
    return hs
  end
  local stalled = condition(obj, "Stalled")
  if stalled ~= nil and stalled.status == "True" then
    hs.status = "Degraded"
    hs.message = stalled.reason .. ": " .. (stalled.message or "")
    return hs
  end
  local reconciling = condition(obj, "Reconciling")
  if reconciling ~= nil and reconciling.status == "True" then
    if reconciling.reason == "WaitingForMaintenanceWindow" then
      hs.status = "Suspended"
    else
      hs.status = "Progressing"
    end
    hs.message = reconciling.message or reconciling.reason
    return hs
  end
  local ready = condition(obj, "Ready")
  if ready == nil or ready.status == "Unknown" then
    hs.status = "Progressing"
    hs.message = (ready and ready.message) or "Waiting for Ready"
    return hs
  end
  if ready.status == "False" then
    hs.status = "Degraded"
    hs.message = ready.reason .. ": " .. (ready.message or "")
    return hs
  end
  local gen = obj.metadata.generation or 0
  local observed = obj.status.observedGeneration or 0
  if observed < gen then
    hs.status = "Progressing"
    hs.message = "Waiting for the controller to observe generation " .. gen
    return hs
  end
  hs.status = "Healthy"
  hs.message = ready.message or ready.reason
  return hs
end

return health(obj)
